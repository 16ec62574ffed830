package specrun

import (
	"reflect"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

func TestParseDpkgStatus(t *testing.T) {
	got := parseDpkgStatus([]byte(dpkgFixture))
	want := map[string][]dpkgEntry{
		"chrony":         {{"chrony", "amd64", "4.3-2+deb12u2", "install ok installed"}},
		"openssh-server": {{"openssh-server", "amd64", "1:9.2p1-2+deb12u10", "install ok installed"}},
		"nano":           {{"nano", "amd64", "7.2-1", "deinstall ok config-files"}},
		"libc6": {
			{"libc6", "amd64", "2.36-9+deb12u10", "install ok installed"},
			{"libc6", "i386", "2.36-9+deb12u9", "install ok installed"},
		},
		"vim": {{"vim", "amd64", "2:9.0.1378-2", "hold ok installed"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestPackages(t *testing.T) {
	root := fixture(t)
	pkg := func(name, version string, line int) model.PackageSpec {
		p := model.PackageSpec{Name: v(name, line)}
		if version != "" {
			p.Version = v(version, line+1)
		}
		return p
	}
	tests := []struct {
		name string
		spec model.PackageSpec
		want outcome
		line int
	}{
		{"installed", pkg("chrony", "", 3), ok("package chrony: installed, version 4.3-2+deb12u2"), 3},
		{"at its version", pkg("chrony", "4.3-2+deb12u2", 3), ok("package chrony: installed, version 4.3-2+deb12u2"), 3},
		{"at another version", pkg("chrony", "4.3-2+deb12u3", 3), fail("package chrony: want version 4.3-2+deb12u3, installed 4.3-2+deb12u2"), 4},
		{"epoch", pkg("openssh-server", "1:9.2p1-2+deb12u10", 5), ok("package openssh-server: installed, version 1:9.2p1-2+deb12u10"), 5},
		{"removed, config files left", pkg("nano", "", 7), fail(`package nano: want installed, not installed (dpkg status "deinstall ok config-files")`), 7},
		{"removed, version asked", pkg("nano", "7.2-1", 7), fail(`package nano: want version 7.2-1, not installed (dpkg status "deinstall ok config-files")`), 7},
		{"never installed", pkg("curl", "", 9), fail("package curl: want installed, not installed"), 9},
		{"a description line is no package", pkg("fake-continuation", "", 9), fail("package fake-continuation: want installed, not installed"), 9},
		{"held", pkg("vim", "2:9.0.1378-2", 11), ok("package vim: installed, version 2:9.0.1378-2"), 11},
		{"one of two architectures", pkg("libc6", "2.36-9+deb12u9", 13), ok("package libc6: installed, version 2.36-9+deb12u9"), 13},
		{"architecture named", pkg("libc6:amd64", "2.36-9+deb12u9", 13), fail("package libc6:amd64: want version 2.36-9+deb12u9, installed 2.36-9+deb12u10"), 14},
		{"both architectures differ", pkg("libc6", "2.36-9+deb12u11", 13), fail("package libc6: want version 2.36-9+deb12u11, installed 2.36-9+deb12u10, 2.36-9+deb12u9"), 14},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := check(t, &model.ImageSpec{Packages: []model.PackageSpec{tt.spec}}, Target{Root: root}, tt.want)
			if got := rep.Results[0].Pos.Line; got != tt.line {
				t.Errorf("result at line %d, want %d", got, tt.line)
			}
		})
	}
}

func TestPackagesWithoutDpkg(t *testing.T) {
	root := t.TempDir()
	spec := &model.ImageSpec{Packages: []model.PackageSpec{{Name: v("chrony", 3)}}}
	check(t, spec, Target{Root: root},
		fail("package chrony: want installed, cannot tell: reading /var/lib/dpkg/status: no such file or directory"))
}
