package member

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"

	"weft/vocab"
)

// Agent names. Every agent belongs to one device: its name is the
// device's ID (the base64url, unpadded, of its Ed25519 public key: 43
// characters) or that ID, a '.', and a tab suffix of 1 to MaxAgentSuffix
// characters from the base64url alphabet (a-z A-Z 0-9 - _). The '.' is
// not in that alphabet, so a name splits one way only, and a name alone
// gives the key that must have signed its transactions.
const (
	// DeviceIDLen is the length of a device ID.
	DeviceIDLen = 43
	// MaxAgentSuffix bounds a tab suffix, so that the longest name is
	// vocab.MaxAgentLen.
	MaxAgentSuffix = vocab.MaxAgentLen - DeviceIDLen - 1
	agentSep       = '.'
)

// DeviceID is a device's ID: the base64url of its Ed25519 public key.
func DeviceID(pub ed25519.PublicKey) string { return base64.RawURLEncoding.EncodeToString(pub) }

// AgentOf returns the agent name of a device (its ID).
func AgentOf(pub ed25519.PublicKey) string { return DeviceID(pub) }

// TabAgent returns the agent name of one of a device's tabs: the
// device's ID, '.', suffix. The suffix must be 1 to MaxAgentSuffix
// base64url characters.
func TabAgent(pub ed25519.PublicKey, suffix string) (string, error) {
	if !validSuffix(suffix) {
		return "", vocab.Reject(vocab.ReasonMalformed, "tab suffix %q: want 1 to %d of a-z A-Z 0-9 - _", suffix, MaxAgentSuffix)
	}
	return DeviceID(pub) + string(agentSep) + suffix, nil
}

func validSuffix(s string) bool {
	if len(s) == 0 || len(s) > MaxAgentSuffix {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// DeviceOf returns the device key an agent name belongs to, or a
// rejection (agent-owner) for a name that is no device's.
func DeviceOf(agent string) (ed25519.PublicKey, error) {
	id, suffix, tab := strings.Cut(agent, string(agentSep))
	if len(id) != DeviceIDLen || (tab && !validSuffix(suffix)) {
		return nil, vocab.Reject(vocab.ReasonAgentOwner, "agent %q is not a device ID or a device ID and a tab suffix", agent)
	}
	pub, err := base64.RawURLEncoding.Strict().DecodeString(id)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, vocab.Reject(vocab.ReasonAgentOwner, "agent %q: its device ID does not decode", agent)
	}
	return pub, nil
}

// OwnsAgent reports whether agent belongs to the device pub.
func OwnsAgent(pub ed25519.PublicKey, agent string) bool {
	k, err := DeviceOf(agent)
	return err == nil && k.Equal(pub)
}
