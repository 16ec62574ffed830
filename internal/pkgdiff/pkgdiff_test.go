package pkgdiff_test

import (
	"reflect"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/pkgdiff"
)

func TestDiff(t *testing.T) {
	p := func(name, arch, version string) pkgdiff.Package {
		return pkgdiff.Package{Name: name, Architecture: arch, Version: version}
	}
	cases := []struct {
		name       string
		base, head []pkgdiff.Package
		want       pkgdiff.Changes
	}{
		{name: "nothing", want: pkgdiff.Changes{}},
		{
			name: "same version rebuilt is no change",
			base: []pkgdiff.Package{p("bash", "amd64", "5.2.15-2+b2")},
			head: []pkgdiff.Package{{Name: "bash", Architecture: "amd64", Version: "5.2.15-2+b2", Source: "bash"}},
		},
		{
			name: "equal by dpkg is no change",
			base: []pkgdiff.Package{p("x", "amd64", "1.0")},
			head: []pkgdiff.Package{p("x", "amd64", "0:1.0-0")},
		},
		{
			name: "every kind, sorted by name",
			base: []pkgdiff.Package{p("zlib1g", "amd64", "1:1.2.13.dfsg-1"), p("openssh-server", "amd64", "1:9.2p1-2+deb12u9"), p("nano", "amd64", "7.2-1"), p("curl", "amd64", "7.88.1-10+deb12u5"), p("systemd", "amd64", "252.39-1")},
			head: []pkgdiff.Package{p("systemd", "amd64", "252.39-1~deb12u2"), p("curl", "amd64", "7.88.1-10+deb12u12"), p("openssh-server", "amd64", "1:9.2p1-2+deb12u10"), p("zlib1g", "amd64", "1:1.2.13.dfsg-1"), p("vim-tiny", "amd64", "2:9.0.1378-2"), p("ca-certificates", "all", "20230311")},
			want: pkgdiff.Changes{
				Added:      []pkgdiff.Change{{Name: "ca-certificates", Architecture: "all", New: "20230311"}, {Name: "vim-tiny", Architecture: "amd64", New: "2:9.0.1378-2"}},
				Removed:    []pkgdiff.Change{{Name: "nano", Architecture: "amd64", Old: "7.2-1"}},
				Upgraded:   []pkgdiff.Change{{Name: "curl", Architecture: "amd64", Old: "7.88.1-10+deb12u5", New: "7.88.1-10+deb12u12"}, {Name: "openssh-server", Architecture: "amd64", Old: "1:9.2p1-2+deb12u9", New: "1:9.2p1-2+deb12u10"}},
				Downgraded: []pkgdiff.Change{{Name: "systemd", Architecture: "amd64", Old: "252.39-1", New: "252.39-1~deb12u2"}},
			},
		},
		{
			name: "architecture change of a single package is an upgrade",
			base: []pkgdiff.Package{p("python3-six", "amd64", "1.15.0-2")},
			head: []pkgdiff.Package{p("python3-six", "all", "1.16.0-4")},
			want: pkgdiff.Changes{Upgraded: []pkgdiff.Change{{Name: "python3-six", Architecture: "all", OldArchitecture: "amd64", Old: "1.15.0-2", New: "1.16.0-4"}}},
		},
		{
			name: "multi-arch packages match by architecture",
			base: []pkgdiff.Package{p("libc6", "amd64", "2.36-9+deb12u4"), p("libc6", "i386", "2.36-9+deb12u4")},
			head: []pkgdiff.Package{p("libc6", "amd64", "2.36-9+deb12u7"), p("libc6", "arm64", "2.36-9+deb12u7")},
			want: pkgdiff.Changes{
				Added:    []pkgdiff.Change{{Name: "libc6", Architecture: "arm64", New: "2.36-9+deb12u7"}},
				Removed:  []pkgdiff.Change{{Name: "libc6", Architecture: "i386", Old: "2.36-9+deb12u4"}},
				Upgraded: []pkgdiff.Change{{Name: "libc6", Architecture: "amd64", Old: "2.36-9+deb12u4", New: "2.36-9+deb12u7"}},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := pkgdiff.Diff(tc.base, tc.head)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if got.Len() != tc.want.Len() {
				t.Errorf("Len: got %d, want %d", got.Len(), tc.want.Len())
			}
		})
	}
}
