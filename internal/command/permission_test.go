package command

import (
	"strings"
	"testing"
)

func TestParsePermission(t *testing.T) {
	tests := []struct {
		in      string
		want    Permission
		wantErr bool
	}{
		{"none", PermissionNone, false},
		{"read", PermissionRead, false},
		{"triage", PermissionTriage, false},
		{"write", PermissionWrite, false},
		{"maintain", PermissionMaintain, false},
		{"admin", PermissionAdmin, false},
		{" Write ", PermissionWrite, false},
		{"ADMIN", PermissionAdmin, false},
		{"", PermissionNone, true},
		{"push", PermissionNone, true},
		{"owner", PermissionNone, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePermission(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParsePermission(%q) = %v, want an error", tt.in, got)
				}
				if msg := err.Error(); !strings.Contains(msg, "none, read, triage, write, maintain, admin") || !strings.Contains(msg, `"`+tt.in+`"`) {
					t.Errorf("error %q should quote the input and list the valid values", msg)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParsePermission(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestPermissionStringRoundTrips(t *testing.T) {
	for p := PermissionNone; p <= PermissionAdmin; p++ {
		t.Run(p.String(), func(t *testing.T) {
			got, err := ParsePermission(p.String())
			if err != nil || got != p {
				t.Errorf("ParsePermission(%q) = %v, %v; want %v", p.String(), got, err, p)
			}
			text, err := p.MarshalText()
			if err != nil {
				t.Fatal(err)
			}
			var back Permission
			if err := back.UnmarshalText(text); err != nil || back != p {
				t.Errorf("UnmarshalText(%q) = %v, %v; want %v", text, back, err, p)
			}
		})
	}
	if got := Permission(9).String(); got != "Permission(9)" {
		t.Errorf("Permission(9).String() = %q, want Permission(9)", got)
	}
	if _, err := Permission(-1).MarshalText(); err == nil {
		t.Error("MarshalText of an invalid level succeeded")
	}
	var p Permission
	if err := p.UnmarshalText([]byte("superuser")); err == nil {
		t.Error("UnmarshalText(superuser) succeeded")
	}
}

func TestAtLeast(t *testing.T) {
	order := []Permission{PermissionNone, PermissionRead, PermissionTriage, PermissionWrite, PermissionMaintain, PermissionAdmin}
	for i, p := range order {
		for j, q := range order {
			t.Run(p.String()+"/"+q.String(), func(t *testing.T) {
				if got, want := p.AtLeast(q), i >= j; got != want {
					t.Errorf("%v.AtLeast(%v) = %v, want %v", p, q, got, want)
				}
			})
		}
	}
}

func TestFromCollaborator(t *testing.T) {
	tests := []struct {
		name       string
		permission string
		roleName   string
		want       Permission
	}{
		{"admin", "admin", "admin", PermissionAdmin},
		{"maintain is reported as write", "write", "maintain", PermissionMaintain},
		{"write", "write", "write", PermissionWrite},
		{"triage is reported as read", "read", "triage", PermissionTriage},
		{"read", "read", "read", PermissionRead},
		{"no access", "none", "", PermissionNone},
		{"custom role based on write", "write", "deployer", PermissionWrite},
		{"custom role based on read", "read", "auditor", PermissionRead},
		{"older API without role_name", "admin", "", PermissionAdmin},
		{"unknown values grant nothing", "superuser", "owner", PermissionNone},
		{"empty answer grants nothing", "", "", PermissionNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FromCollaborator(tt.permission, tt.roleName); got != tt.want {
				t.Errorf("FromCollaborator(%q, %q) = %v, want %v", tt.permission, tt.roleName, got, tt.want)
			}
		})
	}
}
