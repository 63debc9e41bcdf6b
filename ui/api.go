package ui

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"weft/api"
	"weft/member"
	"weft/vocab"
)

// Bounds on what a request may carry (besides Options.MaxBody; titles
// follow vocab.CheckTitle).
const (
	// MaxEdits is the most edits one request to /edits may carry.
	MaxEdits = 1 << 16
)

type handler func(w http.ResponseWriter, r *http.Request) error

func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	handle := func(pattern string, h handler) {
		m.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				writeError(w, s.log, r, err)
			}
		})
	}
	handle("POST /api/docs", s.createDoc)
	handle("GET /api/docs", s.listDocs)
	handle("POST /api/docs/{id}/join", s.joinDoc)
	handle("PATCH /api/docs/{id}", s.renameDoc)
	handle("GET /api/docs/{id}/text", s.text)
	handle("POST /api/docs/{id}/edits", s.edits)
	handle("GET /api/docs/{id}/status", s.docStatus)
	handle("POST /api/docs/{id}/invites", s.invite)
	handle("POST /api/join", s.joinInvite)
	handle("GET /api/docs/{id}/members", s.members)
	handle("DELETE /api/docs/{id}/members/{device}", s.removeMember)
	handle("POST /api/docs/{id}/host", s.host)
	handle("POST /api/docs/{id}/upgrade", s.upgrade)
	handle("GET /api/peers", s.peers)
	handle("GET /api/status", s.status)
	handle("POST /api/backups", s.backup)
	s.historyRoutes(handle) // history.go
	return m
}

type titleBody struct {
	Title *string `json:"title"`
}

type editsBody struct {
	Edits []api.Edit `json:"edits"`
}

func (s *Server) createDoc(w http.ResponseWriter, r *http.Request) error {
	var b titleBody
	if err := s.readJSON(w, r, &b, true); err != nil {
		return err
	}
	title := ""
	if b.Title != nil {
		title = *b.Title
	}
	if err := checkTitle(title); err != nil {
		return err
	}
	info, err := s.backend.CreateDoc(r.Context(), title)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/docs/"+info.ID)
	writeJSON(w, s.log, http.StatusCreated, info)
	return nil
}

func (s *Server) listDocs(w http.ResponseWriter, r *http.Request) error {
	docs, err := s.backend.ListDocs(r.Context())
	if err != nil {
		return err
	}
	if docs == nil {
		docs = []api.DocInfo{}
	}
	writeJSON(w, s.log, http.StatusOK, docs)
	return nil
}

func (s *Server) joinDoc(w http.ResponseWriter, r *http.Request) error {
	id, err := docID(r)
	if err != nil {
		return err
	}
	var b struct{}
	if err := s.readJSON(w, r, &b, true); err != nil {
		return err
	}
	info, err := s.backend.JoinDoc(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, s.log, http.StatusOK, info)
	return nil
}

func (s *Server) renameDoc(w http.ResponseWriter, r *http.Request) error {
	id, err := docID(r)
	if err != nil {
		return err
	}
	var b titleBody
	if err := s.readJSON(w, r, &b, false); err != nil {
		return err
	}
	if b.Title == nil {
		return badRequest(`body needs a "title"`)
	}
	if err := checkTitle(*b.Title); err != nil {
		return err
	}
	info, err := s.backend.RenameDoc(r.Context(), id, *b.Title)
	if err != nil {
		return err
	}
	writeJSON(w, s.log, http.StatusOK, info)
	return nil
}

func (s *Server) text(w http.ResponseWriter, r *http.Request) error {
	id, err := docID(r)
	if err != nil {
		return err
	}
	if r.URL.Query().Has("at") {
		return s.textAt(w, r, id) // history.go
	}
	text, err := s.backend.Text(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, text)
	return nil
}

func (s *Server) edits(w http.ResponseWriter, r *http.Request) error {
	id, err := docID(r)
	if err != nil {
		return err
	}
	var b editsBody
	if err := s.readJSON(w, r, &b, false); err != nil {
		return err
	}
	if len(b.Edits) == 0 {
		return badRequest(`body needs "edits": a non-empty list of {"pos","del","ins"}`)
	}
	if len(b.Edits) > MaxEdits {
		return errorf(http.StatusRequestEntityTooLarge, kindTooLarge, "%w: %d edits in one request; at most %d", ErrTooLarge, len(b.Edits), MaxEdits)
	}
	for i, e := range b.Edits {
		switch {
		case e.Pos < 0:
			return badRequest("edits[%d]: pos %d is negative", i, e.Pos)
		case e.Del < 0:
			return badRequest("edits[%d]: del %d is negative", i, e.Del)
		case e.Del == 0 && e.Ins == "":
			return badRequest("edits[%d] neither deletes nor inserts anything", i)
		}
	}
	res, err := s.backend.Edit(r.Context(), id, b.Edits)
	if err != nil {
		applied := res.Applied
		if applied < 0 || applied > len(b.Edits) {
			applied = 0
		}
		status, kind := classify(err)
		return &apiError{status: status, kind: kind, err: err, applied: &applied}
	}
	writeJSON(w, s.log, http.StatusOK, res)
	return nil
}

func (s *Server) docStatus(w http.ResponseWriter, r *http.Request) error {
	id, err := docID(r)
	if err != nil {
		return err
	}
	st, err := s.backend.DocStatus(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, s.log, http.StatusOK, st)
	return nil
}

func (s *Server) peers(w http.ResponseWriter, r *http.Request) error {
	peers, err := s.backend.Peers(r.Context())
	if err != nil {
		return err
	}
	if peers == nil {
		peers = []api.PeerInfo{}
	}
	writeJSON(w, s.log, http.StatusOK, peers)
	return nil
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) error {
	st, err := s.backend.Status(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, s.log, http.StatusOK, st)
	return nil
}

func docID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if _, err := vocab.ParseDocID(id); err != nil {
		return "", badRequest("%q is not a document ID (want 32 lowercase hex digits, not all zeros)", id)
	}
	return id, nil
}

func checkTitle(t string) error {
	if err := vocab.CheckTitle(t); err != nil {
		return badRequest("%v", err)
	}
	return nil
}

// readJSON reads r's body, at most Options.MaxBody bytes, checks it is
// UTF-8 without unpaired surrogate escapes, and decodes exactly one JSON
// value into v, refusing unknown fields. An empty body is allowed when
// optional (v is left as it is).
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errorf(http.StatusUnsupportedMediaType, kindMediaType, "%w: Content-Type %q; send application/json", ErrMediaType, ct)
		}
	}
	tooLarge := func() error {
		return errorf(http.StatusRequestEntityTooLarge, kindTooLarge, "%w: body larger than %d bytes", ErrTooLarge, s.opts.MaxBody)
	}
	if r.ContentLength > s.opts.MaxBody {
		return tooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge()
		}
		return badRequest("reading the body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return badRequest("empty body; want a JSON object")
	}
	if !utf8.Valid(body) {
		return badRequest("body is not valid UTF-8")
	}
	if off, ok := pairedSurrogates(body); !ok {
		return badRequest("body has an unpaired UTF-16 surrogate escape at byte %d", off)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("body: %s", describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("body has more after its JSON value")
	}
	return nil
}

func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "not valid JSON at byte " + strconv.FormatInt(se.Offset, 10) + ": " + se.Error()
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "the body"
		} else {
			field = strconv.Quote(field)
		}
		return field + " must be " + jsonKind(te.Type.Kind().String()) + ", not JSON " + te.Value
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	msg, _ := strings.CutPrefix(err.Error(), "json: ")
	return msg
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "uint64", "int32":
		return "a whole number in range"
	case "string":
		return "a string"
	case "struct", "map":
		return "an object"
	case "slice":
		return "a list"
	}
	return goKind
}

// pairedSurrogates reports whether every \uD800–\uDFFF escape in the JSON
// text b is part of a high–low pair. encoding/json would silently replace
// an unpaired one with U+FFFD, changing the text. On failure it returns
// the offending escape's offset.
func pairedSurrogates(b []byte) (int, bool) {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 >= len(b) || b[i+1] != 'u' {
			i++ // skip the escaped character (it may be a backslash)
			continue
		}
		u, ok := hex4(b, i+2)
		if !ok {
			i++
			continue // malformed; the decoder names it
		}
		switch {
		case u >= 0xD800 && u < 0xDC00:
			if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
				if lo, ok := hex4(b, i+8); ok && lo >= 0xDC00 && lo < 0xE000 {
					i += 11
					continue
				}
			}
			return i, false
		case u >= 0xDC00 && u < 0xE000:
			return i, false
		}
		i += 5
	}
	return 0, true
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// Bounds on members-only requests, checked before anything reaches the
// Backend (which checks the rest: an invite's signatures, a relay's
// address as libp2p parses it, …). Labels, device IDs and the invite
// prefix are package member's (MaxLabelBytes, DeviceIDLen, InvitePrefix).
const (
	// MaxInviteChars bounds an invite string. A real one is well under
	// it (member.MaxInviteChars, about 11 KB).
	MaxInviteChars = 16 << 10
	// MaxExpires bounds an invite's lifetime, in seconds (100 years):
	// longer is "never" (0), and bounding it keeps times in range.
	MaxExpires = 100 * 365 * 24 * 3600
	// MaxRelayAddr bounds a relay's multiaddr, in bytes.
	MaxRelayAddr = 1024
)

// The checks below are the API's (a failure is a 400) and the command
// line's (a failure is a usage error); each error names what is wrong.

// CheckRole checks that role is one of the roles an invite can grant.
func CheckRole(role string) error {
	switch role {
	case api.RoleRead, api.RoleWrite, api.RoleAdmin, api.RolePull:
		return nil
	case "":
		return errors.New(`a role is required: read, write, admin or pull`)
	}
	return fmt.Errorf("unknown role %q (allowed: read, write, admin, pull)", role)
}

// CheckLabel checks an invite's label: at most member.MaxLabelBytes of
// UTF-8, no control characters (members and relays see it: a name).
func CheckLabel(label string) error {
	switch {
	case len(label) > member.MaxLabelBytes:
		return fmt.Errorf("label of %d bytes; at most %d", len(label), member.MaxLabelBytes)
	case !utf8.ValidString(label):
		return errors.New("label is not valid UTF-8")
	case strings.ContainsFunc(label, unicode.IsControl):
		return errors.New("label has a control character")
	}
	return nil
}

// CheckExpires checks an invite's lifetime in seconds (0: never).
func CheckExpires(seconds int64) error {
	switch {
	case seconds < 0:
		return fmt.Errorf("expires %d is negative (seconds from now; 0: never)", seconds)
	case seconds > MaxExpires:
		return fmt.Errorf("expires %d is more than %d seconds (100 years); use 0 for never", seconds, MaxExpires)
	}
	return nil
}

// CheckInviteRequest checks every field of req.
func CheckInviteRequest(req api.InviteRequest) error {
	if err := CheckRole(req.Role); err != nil {
		return err
	}
	if err := CheckLabel(req.Label); err != nil {
		return err
	}
	return CheckExpires(req.Expires)
}

// CheckInvite checks an invite's form: member.InvitePrefix then
// base64url, at most MaxInviteChars in all. It does not decode it.
func CheckInvite(invite string) error {
	if len(invite) > MaxInviteChars {
		return fmt.Errorf("invite of %d characters; at most %d", len(invite), MaxInviteChars)
	}
	rest, ok := strings.CutPrefix(invite, member.InvitePrefix)
	if !ok {
		return fmt.Errorf("%s is not an invite (an invite starts %q)", quoteShort(invite), member.InvitePrefix)
	}
	if rest == "" {
		return errors.New("invite is empty after " + strconv.Quote(member.InvitePrefix))
	}
	if i := strings.IndexFunc(rest, func(r rune) bool { return !isBase64URL(r) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(rest[i:])
		return fmt.Errorf("invite has %s at character %d; an invite is base64url after %q (was it cut or wrapped?)", strconv.Quote(string(r)), len(member.InvitePrefix)+i, member.InvitePrefix)
	}
	return nil
}

// CheckDeviceID checks a device ID: member.DeviceIDLen characters of
// unpadded base64url that decode to an Ed25519 public key.
func CheckDeviceID(id string) error {
	if len(id) != member.DeviceIDLen {
		return fmt.Errorf("%s is not a device ID (want %d base64url characters, got %d)", quoteShort(id), member.DeviceIDLen, len(id))
	}
	if b, err := base64.RawURLEncoding.Strict().DecodeString(id); err != nil || len(b) != ed25519.PublicKeySize {
		return fmt.Errorf("%q is not a device ID (not the base64url of a public key)", id)
	}
	return nil
}

// CheckRelay checks a relay's address as far as ui can without libp2p: a
// multiaddr's text form ending in /p2p/<peer ID>. The Backend parses it.
func CheckRelay(addr string) error {
	switch {
	case addr == "":
		return errors.New("the relay's multiaddr is empty")
	case len(addr) > MaxRelayAddr:
		return fmt.Errorf("relay multiaddr of %d bytes; at most %d", len(addr), MaxRelayAddr)
	case strings.ContainsFunc(addr, func(r rune) bool { return r <= ' ' || r == 0x7f || r == utf8.RuneError }):
		return fmt.Errorf("relay multiaddr %q has spaces or control characters", addr)
	case addr[0] != '/':
		return fmt.Errorf("relay %q is not a multiaddr (want /ip4/…/tcp/…/p2p/<peer ID>)", addr)
	}
	i := strings.LastIndex(addr, "/p2p/")
	if i < 0 || strings.Contains(addr[i+len("/p2p/"):], "/") || len(addr) == i+len("/p2p/") {
		return fmt.Errorf("relay multiaddr %q does not end in /p2p/<peer ID>", addr)
	}
	return nil
}

func isBase64URL(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_'
}

// quoteShort quotes s for an error, cut to 40 bytes: a wrong paste may be
// long, and an error is one line.
func quoteShort(s string) string {
	if len(s) <= 40 {
		return strconv.Quote(s)
	}
	cut := 40
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

type joinBody struct {
	Invite *string `json:"invite"`
}

func (s *Server) invite(w http.ResponseWriter, r *http.Request) error {
	id, err := docID(r)
	if err != nil {
		return err
	}
	var b api.InviteRequest
	if err := s.readJSON(w, r, &b, false); err != nil {
		return err
	}
	if err := CheckInviteRequest(b); err != nil {
		return badRequest("%v", err)
	}
	info, err := s.backend.Invite(r.Context(), id, b)
	if err != nil {
		return err
	}
	writeJSON(w, s.log, http.StatusCreated, info)
	return nil
}

func (s *Server) joinInvite(w http.ResponseWriter, r *http.Request) error {
	var b joinBody
	if err := s.readJSON(w, r, &b, false); err != nil {
		return err
	}
	if b.Invite == nil {
		return badRequest(`body needs an "invite": "%s…"`, member.InvitePrefix)
	}
	if err := CheckInvite(*b.Invite); err != nil {
		return badRequest("%v", err)
	}
	info, err := s.backend.JoinInvite(r.Context(), *b.Invite)
	if err != nil {
		return err
	}
	writeJSON(w, s.log, http.StatusOK, info)
	return nil
}

func (s *Server) members(w http.ResponseWriter, r *http.Request) error {
	id, err := docID(r)
	if err != nil {
		return err
	}
	ms, err := s.backend.Members(r.Context(), id)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []api.MemberInfo{}
	}
	writeJSON(w, s.log, http.StatusOK, ms)
	return nil
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) error {
	id, err := docID(r)
	if err != nil {
		return err
	}
	device := r.PathValue("device")
	if err := CheckDeviceID(device); err != nil {
		return badRequest("%v", err)
	}
	if err := s.backend.RemoveMember(r.Context(), id, device); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) host(w http.ResponseWriter, r *http.Request) error {
	id, err := docID(r)
	if err != nil {
		return err
	}
	var b api.HostRequest
	if err := s.readJSON(w, r, &b, false); err != nil {
		return err
	}
	if err := CheckRelay(b.Relay); err != nil {
		return badRequest("%v", err)
	}
	if err := s.backend.Host(r.Context(), id, b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) error {
	id, err := docID(r)
	if err != nil {
		return err
	}
	var b struct{}
	if err := s.readJSON(w, r, &b, true); err != nil {
		return err
	}
	info, err := s.backend.Upgrade(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/docs/"+info.ID)
	writeJSON(w, s.log, http.StatusCreated, info)
	return nil
}

// maxBackupTo bounds BackupRequest.To (a path or an s3:// URL).
const maxBackupTo = 4096

func (s *Server) backup(w http.ResponseWriter, r *http.Request) error {
	var b api.BackupRequest
	if err := s.readJSON(w, r, &b, false); err != nil {
		return err
	}
	switch {
	case b.To == "":
		return badRequest(`body needs "to": an absolute directory or s3://BUCKET/PREFIX`)
	case len(b.To) > maxBackupTo || !utf8.ValidString(b.To) || strings.ContainsFunc(b.To, unicode.IsControl):
		return badRequest(`"to" must be at most %d bytes of UTF-8 without control characters`, maxBackupTo)
	case b.KeepLast < 0 || b.KeepDaily < 0 || b.KeepLast > api.MaxBackupKeep || b.KeepDaily > api.MaxBackupKeep:
		return badRequest(`"keep_last" and "keep_daily" take 0 to %d`, api.MaxBackupKeep)
	}
	info, err := s.backend.Backup(r.Context(), b)
	if err != nil {
		return err
	}
	writeJSON(w, s.log, http.StatusCreated, info)
	return nil
}
