package member

import "fmt"

// Role is what a capability lets its holder do. Roles are totally
// ordered: Pull < Read < Write < Admin, each allowing everything the ones
// below it allow:
//
//	role   pull  read  write  delegate
//	pull    ✓
//	read    ✓     ✓
//	write   ✓     ✓     ✓
//	admin   ✓     ✓     ✓      ✓ (any role, admin included)
//
// Pull may fetch, store, verify and serve the document's ciphertext and
// signed headers, and nothing more: it never receives a read secret. It
// is what a relay is given. The zero Role is no role.
type Role uint8

// The roles, in order. The numbers are the wire form.
const (
	RoleNone  Role = 0
	RolePull  Role = 1
	RoleRead  Role = 2
	RoleWrite Role = 3
	RoleAdmin Role = 4
)

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool { return RolePull <= r && r <= RoleAdmin }

// CanPull reports whether r may fetch and store ciphertext (every role).
func (r Role) CanPull() bool { return r.Valid() }

// CanRead reports whether r holds read secrets (read, write, admin).
func (r Role) CanRead() bool { return r.Valid() && r >= RoleRead }

// CanWrite reports whether r's transactions are accepted (write, admin).
func (r Role) CanWrite() bool { return r.Valid() && r >= RoleWrite }

// CanDelegate reports whether r may issue links (admin only).
func (r Role) CanDelegate() bool { return r == RoleAdmin }

// Covers reports whether r allows everything o allows.
func (r Role) Covers(o Role) bool { return r.Valid() && o.Valid() && r >= o }

// MayGrant reports whether a holder of r may issue a link of role o: only
// an admin delegates, and never above its own role (so any role).
func (r Role) MayGrant(o Role) bool { return r.CanDelegate() && r.Covers(o) }

var roleNames = []string{RolePull: "pull", RoleRead: "read", RoleWrite: "write", RoleAdmin: "admin"}

func (r Role) String() string { return nameOf(r, roleNames, "role") }

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	for r := RolePull; r <= RoleAdmin; r++ {
		if r.String() == s {
			return r, nil
		}
	}
	return RoleNone, fmt.Errorf("member: unknown role %q (want pull, read, write or admin)", s)
}

// nameOf names a value of one of this package's small wire enums (Role,
// Purpose): names[v], or kind(v) for a value without a name.
func nameOf[E ~uint8](v E, names []string, kind string) string {
	if int(v) < len(names) && names[v] != "" {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", kind, uint8(v))
}
