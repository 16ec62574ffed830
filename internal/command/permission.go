package command

import (
	"fmt"
	"strings"
)

// Permission is a person's access level on a repository, in GitHub's order.
// The zero value is PermissionNone.
type Permission int

// The permission levels, from least to most access.
const (
	PermissionNone Permission = iota
	PermissionRead
	PermissionTriage
	PermissionWrite
	PermissionMaintain
	PermissionAdmin
)

// ParsePermission parses a level name as written in configuration, ignoring
// case and surrounding spaces.
func ParsePermission(s string) (Permission, error) {
	if p, ok := lookupPermission(s); ok {
		return p, nil
	}
	var valid []string
	for p := PermissionNone; p <= PermissionAdmin; p++ {
		valid = append(valid, p.String())
	}
	return PermissionNone, fmt.Errorf("unknown permission %q: valid values are %s", s, strings.Join(valid, ", "))
}

func lookupPermission(s string) (Permission, bool) {
	s = strings.TrimSpace(s)
	for p := PermissionNone; p <= PermissionAdmin; p++ {
		if strings.EqualFold(s, p.String()) {
			return p, true
		}
	}
	return PermissionNone, false
}

// String returns the level's name, such as "write".
func (p Permission) String() string {
	switch p {
	case PermissionNone:
		return "none"
	case PermissionRead:
		return "read"
	case PermissionTriage:
		return "triage"
	case PermissionWrite:
		return "write"
	case PermissionMaintain:
		return "maintain"
	case PermissionAdmin:
		return "admin"
	}
	return fmt.Sprintf("Permission(%d)", int(p))
}

// AtLeast reports whether p grants everything q does.
func (p Permission) AtLeast(q Permission) bool {
	return p >= q
}

// MarshalText implements [encoding.TextMarshaler], writing the level's name.
func (p Permission) MarshalText() ([]byte, error) {
	if p < PermissionNone || p > PermissionAdmin {
		return nil, fmt.Errorf("invalid permission %d", int(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler] with [ParsePermission],
// so configuration files can say "required: write".
func (p *Permission) UnmarshalText(text []byte) error {
	v, err := ParsePermission(string(text))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// FromCollaborator converts the answer of GitHub's "get repository
// permissions for a user" API. roleName ("admin", "maintain", "write",
// "triage", "read", or an organisation's custom role) is the precise level
// and wins when it is one we know; otherwise, for custom roles, permission
// (the legacy "admin", "write", "read" or "none", which is the base role the
// custom role inherits) decides. Anything unrecognised is PermissionNone, so
// a surprise in the API never grants access.
func FromCollaborator(permission, roleName string) Permission {
	if p, ok := lookupPermission(roleName); ok {
		return p
	}
	if p, ok := lookupPermission(permission); ok {
		return p
	}
	return PermissionNone
}
