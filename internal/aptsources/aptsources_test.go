package aptsources

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMirrorForReadsBothFormats(t *testing.T) {
	sources, err := Read("testdata/root")
	if err != nil {
		t.Fatal(err)
	}
	m, err := MirrorFor(sources, "bookworm")
	if err != nil {
		t.Fatal(err)
	}
	if m.Primary != "http://mirror.example.org/debian" || m.Security != "http://security.example.org/debian-security" {
		t.Errorf("primary %q, security %q", m.Primary, m.Security)
	}
	want := []string{
		"deb http://mirror.example.org/debian bookworm main contrib",
		"deb http://mirror.example.org/debian bookworm-updates main",
		"deb http://security.example.org/debian-security bookworm-security main",
	}
	if got := m.Lines(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	deb822 := m.Deb822()
	for _, w := range []string{"Suites: bookworm\n", "Suites: bookworm-security\n", "Signed-By: /usr/share/keyrings/example.gpg\n", "Components: main contrib\n"} {
		if !strings.Contains(deb822, w) {
			t.Errorf("deb822 lacks %q:\n%s", w, deb822)
		}
	}
	for _, never := range []string{"disabled.example.org", "ignored.example.org"} {
		if strings.Contains(deb822, never) {
			t.Errorf("a disabled source made it in: %s", never)
		}
	}
}

func TestNoSourceForTheSuite(t *testing.T) {
	sources, _ := Read("testdata/root")
	if _, err := MirrorFor(sources, "trixie"); err == nil || !strings.Contains(err.Error(), `"trixie"`) {
		t.Errorf("got %v, want an error naming the suite", err)
	}
}

func TestBadDeb822NamesTheLine(t *testing.T) {
	_, err := parseDeb822("x.sources", "Types: deb\nno colon here\n")
	if err == nil || !strings.Contains(err.Error(), "x.sources:2") {
		t.Errorf("got %v, want x.sources:2", err)
	}
}

func TestPrimaryMirror(t *testing.T) {
	tests := []struct {
		name, file, content, want string
	}{
		{"deb822", "a.sources", "Types: deb\nURIs: http://mirror.test/debian\nSuites: bookworm bookworm-updates\nComponents: main\n", "http://mirror.test/debian"},
		{"deb822, other suite first", "a.sources", "Types: deb\nURIs: http://other.test/debian\nSuites: trixie\n\nTypes: deb deb-src\nURIs: http://mirror.test/debian\nSuites: bookworm\n", "http://mirror.test/debian"},
		{"deb822, disabled", "a.sources", "Enabled: no\nTypes: deb\nURIs: http://off.test/debian\nSuites: bookworm\n", ""},
		{"one-line with options", "a.list", "# comment\ndeb [signed-by=/k.gpg arch=amd64] http://mirror.test/debian bookworm main\n", "http://mirror.test/debian"},
		{"one-line source packages only", "a.list", "deb-src http://mirror.test/debian bookworm main\n", ""},
		{"ignored file name", "a.list.disabled", "deb http://mirror.test/debian bookworm main\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "etc/apt/sources.list.d")
			os.MkdirAll(dir, 0o755)
			if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			sources, err := Read(root)
			if err != nil {
				t.Fatal(err)
			}
			m, err := MirrorFor(sources, "bookworm")
			if tt.want == "" {
				if err == nil {
					t.Errorf("got %q, want an error", m.Primary)
				}
				return
			}
			if err != nil || m.Primary != tt.want {
				t.Errorf("got %q, %v; want %q", m.Primary, err, tt.want)
			}
		})
	}
}
