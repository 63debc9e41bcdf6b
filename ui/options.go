package ui

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
)

// ErrOptions reports Options that cannot be used.
var ErrOptions = errors.New("ui: bad options")

// DefaultAddr is where the API listens unless told otherwise.
const DefaultAddr = "127.0.0.1:7420"

// MinTokenLen is the shortest token New accepts.
const MinTokenLen = 16

// Options configure a Server. Start from DefaultOptions.
type Options struct {
	// Addr is the host:port to listen on. Default DefaultAddr
	// ("127.0.0.1:7420"). Port 0 picks a free port.
	Addr string
	// Token is the per-install secret every request must present as
	// "Authorization: Bearer <token>". Required (no default); at least
	// MinTokenLen bytes of printable ASCII. NewToken makes one.
	Token string
	// Logger receives the server's log lines. Default: discard.
	Logger *slog.Logger
	// AllowNonLoopback lets Addr name a non-loopback address (and lets
	// requests name any IP address as their Host). Default false: New
	// refuses such an Addr.
	AllowNonLoopback bool
	// NoFallback makes Start fail when Addr's port is taken. Default false:
	// Start then listens on a free port of the same host instead and logs
	// it. Set it when the user chose the address explicitly.
	NoFallback bool
	// MaxBody bounds a request body in bytes; larger ones get 413.
	// Default 16 MiB.
	MaxBody int64
	// Extra mounts more handlers, by exact path, for GET and HEAD (other
	// methods get 405), behind the same Host and Origin checks and the
	// same token as the API. A path is "/" followed by [A-Za-z0-9._~-]
	// segments, at most 128 bytes, not under /api/ or /ws/ and not one of
	// the editor's files. The daemon mounts /healthz, /readyz and
	// /metrics here. Default none.
	Extra map[string]http.Handler
}

// DefaultOptions returns the defaults documented on each field.
func DefaultOptions() Options {
	return Options{
		Addr:    DefaultAddr,
		MaxBody: 16 << 20,
	}
}

func (o *Options) validate() error {
	bad := func(f string, args ...any) error {
		return fmt.Errorf("%w: "+f, append([]any{ErrOptions}, args...)...)
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return bad("Addr %q: %v", o.Addr, err)
	}
	if !o.AllowNonLoopback && !isLoopbackName(host) {
		return bad("Addr %q is not a loopback address (127.0.0.1, [::1] or localhost); the API must not be reachable from other machines", o.Addr)
	}
	if len(o.Token) < MinTokenLen {
		return bad("Token must be at least %d bytes", MinTokenLen)
	}
	for i := 0; i < len(o.Token); i++ {
		if c := o.Token[i]; c <= ' ' || c > '~' {
			return bad("Token must be printable ASCII without spaces")
		}
	}
	if o.MaxBody < 1<<10 || o.MaxBody > 1<<30 {
		return bad("MaxBody %d not in 1 KiB..1 GiB", o.MaxBody)
	}
	for p, h := range o.Extra {
		if err := checkExtraPath(p); err != nil {
			return bad("Extra: %v", err)
		}
		if h == nil {
			return bad("Extra: nil handler for %q", p)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// checkExtraPath says what is wrong with a path for Options.Extra.
func checkExtraPath(p string) error {
	if len(p) < 2 || len(p) > 128 || p[0] != '/' || p[len(p)-1] == '/' {
		return fmt.Errorf("path %q: want /name[/name…], 2-128 bytes, no trailing slash", p)
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("path %q: empty, . or .. segment", p)
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-') {
				return fmt.Errorf("path %q: byte %q is not one of [A-Za-z0-9._~-]", p, c)
			}
		}
	}
	for _, reserved := range []string{"/api", "/ws"} {
		if p == reserved || strings.HasPrefix(p, reserved+"/") {
			return fmt.Errorf("path %q: %s/ belongs to the API", p, reserved)
		}
	}
	return nil
}

// NewToken returns a fresh random token (256 bits, hex).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("ui: making a token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// isLoopbackName reports whether host (no port, no brackets) names this
// machine's loopback interface: "localhost" or a loopback IP literal.
func isLoopbackName(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
