package pkgdiff_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/pkgdiff"
)

func TestParseStatus(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "status"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := pkgdiff.ParseStatus(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []pkgdiff.Package{
		{Name: "libc6", Version: "2.36-9+deb12u7", Architecture: "amd64", Source: "glibc"},
		{Name: "libc6", Version: "2.36-9+deb12u7", Architecture: "i386", Source: "glibc"},
		{Name: "openssh-server", Version: "1:9.2p1-2+deb12u3", Architecture: "amd64", Source: "openssh"},
		{Name: "tzdata", Version: "2024a-0+deb12u1", Architecture: "all"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestParseStatusThisMachine reads the real status file, when there is one.
func TestParseStatusThisMachine(t *testing.T) {
	f, err := os.Open("/var/lib/dpkg/status")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	pkgs, err := pkgdiff.ParseStatus(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		if p.Name == "dpkg" {
			return
		}
	}
	t.Errorf("%d packages installed, dpkg is not one of them", len(pkgs))
}

func TestParseStatusErrors(t *testing.T) {
	cases := []struct {
		name, in string
		wantLine string
	}{
		{"continuation first", " indented\nPackage: a\n", "line 1:"},
		{"no colon", "Package: a\nStatus install ok installed\n", "line 2:"},
		{"repeated field", "Package: a\nVersion: 1\nStatus: install ok installed\nVersion: 2\n", "line 4:"},
		{"no status", "Package: a\nVersion: 1\n\nPackage: b\nVersion: 1\n", "line 1:"},
		{"short status", "Package: a\nVersion: 1\nStatus: installed\n", "line 3:"},
		{"no version", "Package: a\nStatus: install ok installed\n\nPackage: b\nStatus: install ok installed\nVersion: 1\n", "line 1:"},
		{"bad version", "\n\nPackage: a\nStatus: install ok installed\nVersion: 1.0-\n", "line 5:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pkgdiff.ParseStatus(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			if !strings.HasPrefix(err.Error(), tc.wantLine) {
				t.Errorf("got %q, want it to start with %q", err, tc.wantLine)
			}
			if !errors.Is(err, pkgdiff.ErrSyntax) && !errors.Is(err, pkgdiff.ErrBadVersion) {
				t.Errorf("got %v, want an ErrSyntax or ErrBadVersion", err)
			}
		})
	}
}
