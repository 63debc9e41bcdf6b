// Package ui is weft's loopback HTTP server: the local JSON API that the
// CLI talks to, the embedded editor page (ui/web: CodeMirror and the crdt
// compiled to WebAssembly), and the editor's WebSocket (PROTOCOL.md).
//
// It owns the HTTP surface and its safety: it listens on loopback only,
// refuses requests whose Host is not a loopback name (DNS rebinding) or
// that carry a foreign Origin, requires the per-install token on every
// API request and socket (the page's own files carry no secret and need
// none; the socket's Origin must be the daemon's own), bounds and
// validates every body before anything reaches the Backend, and answers
// errors as JSON with proper status codes. The page is served with a
// Content-Security-Policy allowing only its own files, its WebAssembly,
// and its own API and socket, with ETags and gzip. What a
// request does is the Backend's business: ui declares that interface and
// the replica manager satisfies it. ui never imports p2p, store, libp2p or
// badger.
//
// # API
//
// Every request needs "Authorization: Bearer <token>". Bodies and replies
// are JSON (the shared types of package api) unless noted.
//
//	POST  /api/docs             {"title"}                  → 201 DocInfo
//	GET   /api/docs                                        → [DocInfo]
//	POST  /api/docs/{id}/join                              → DocInfo of a legacy document this daemon has;
//	                                                         400 need_invite for any other
//	PATCH /api/docs/{id}        {"title"}                  → DocInfo
//	GET   /api/docs/{id}/text                              → the text exactly (text/plain; charset=utf-8)
//	POST  /api/docs/{id}/edits  {"edits":[{pos,del,ins}]}  → EditResult, once durable locally
//	GET   /api/docs/{id}/status                            → DocStatus
//	POST  /api/docs/{id}/invites {"role","label","expires"} → 201 InviteInfo
//	POST  /api/join             {"invite"}                 → DocInfo (the joined document)
//	GET   /api/docs/{id}/members                           → [MemberInfo]
//	DELETE /api/docs/{id}/members/{device}                 → 204
//	POST  /api/docs/{id}/host   {"relay"}                  → 204
//	POST  /api/docs/{id}/upgrade                           → 201 DocInfo (a members-only copy)
//	GET   /api/docs/{id}/history?since=TIME                → History (sessions, newest first)
//	GET   /api/docs/{id}/text?at=V[&since=V]               → TextAt (JSON: the text at a version)
//	GET   /api/docs/{id}/diff?from=V[&to=V]                → Diff (unified diff of the texts)
//	GET   /api/docs/{id}/blame[?at=V]                      → Blame (each line and its last change)
//	POST  /api/docs/{id}/restore {"to"}                    → Restored (new local edits)
//	  (history.go; V is a printed version or an RFC 3339 time; a Backend
//	  without HistoryBackend answers them 501)
//	GET   /api/peers                                       → [PeerInfo]
//	GET   /api/status                                      → NodeStatus
//	POST  /api/backups          {"to","keep_last","keep_daily"} → 201 BackupInfo (the whole store,
//	                                                         written while the daemon runs)
//
// Errors are {"error": message, "code": kind} (plus "applied" from the
// edits route), with kinds and statuses:
//
//	bad_input 400, need_invite 400, unauthorized 401, forbidden 403,
//	unknown_doc 404, not_found 404, method_not_allowed 405, too_large 413,
//	unsupported_media_type 415, closed 503, internal 500.
//
// forbidden is also what a request gets that this device's role in the
// document does not allow (a reader editing, a writer inviting).
// Members-only fields are checked before the Backend sees them: a role
// (read, write, admin, pull), a label (≤ 64 bytes, no control
// characters), expires (seconds, 0 ≤ n ≤ 100 years; 0 is never), an
// invite ("weft:invite/" and base64url, ≤ 16 KiB), a device ID (43
// base64url characters), a relay (a multiaddr ending /p2p/<peer ID>).
//
// Positions and lengths count Unicode code points. Bodies must be valid
// UTF-8 and may not hold unpaired UTF-16 surrogate escapes (which JSON
// decoding would silently turn into U+FFFD).
package ui
