package pkgdiff_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/pkgdiff"
)

// versionOrder is a, b and how a compares with b; every case is also checked reversed.
var versionOrder = []struct {
	a, b string
	want int
}{
	// Tilde sorts before everything, even the end of the string.
	{"1.0~rc1", "1.0", -1},
	{"1.0~rc1~git5", "1.0~rc1", -1},
	{"1.0~~", "1.0~", -1},
	{"1.0~", "1.0", -1},
	{"252.39-1~deb12u2", "252.39-1", -1},
	{"3.0.11-1~deb12u2", "3.0.11-0+deb12u1", 1},
	// The end of the string sorts before letters, letters before everything else.
	{"1.0", "1.0a", -1},
	{"1.0a", "1.0+", -1},
	{"a", "+", -1},
	{"1.0+", "1.0.1", -1},
	{"A", "a", -1},
	{"1.0z", "1.0.", -1},
	// Digits compare as numbers, leading zeros aside.
	{"10", "9", 1},
	{"1.10", "1.9", 1},
	{"1.01", "1.1", 0},
	{"1.0", "1.00", 0},
	{"1.0-1", "1.0-01", 0},
	{"2.36-9+deb12u10", "2.36-9+deb12u4", 1},
	{"1:9.2p1-2+deb12u10", "1:9.2p1-2+deb12u9", 1},
	{"7.88.1-10+deb12u12", "7.88.1-10+deb12u5", 1},
	{"2.10-0.1+deb12u2", "2.10-0.1", 1},
	{"2.10-0.1+deb12u2", "2.10-0.1+deb12u1", 1},
	{"2.10-0.1+deb12u2", "2.9-0.1+deb12u3", 1},
	{"2.10-0.1+deb12u2", "2.10-0.2", -1},
	// Epochs first, a missing one is 0.
	{"1:1.0", "2.0", 1},
	{"0:1.0", "1.0", 0},
	{"1:0", "0:9999", 1},
	{"2:1.0", "10:0.1", -1},
	// The revision is after the last hyphen; no revision is the same as "0".
	{"1.0-1", "1.0-1+deb12u1", -1},
	{"1.0", "1.0-0", 0},
	{"1.0", "1.0-1", -1},
	{"1.0-1", "1.0-1.1", -1},
	{"1-1-1", "1-1", 1},
	{"1.0+dfsg-1", "1.0-2", 1},
	{"1.2.3-1ubuntu1", "1.2.3-1", 1},
	{"1.0-0.1", "1.0-0", 1},
	// Real pairs from bookworm point releases.
	{"2.36-9+deb12u4", "2.36-9+deb12u7", -1},
	{"6.1.0-18", "6.1.0-9", 1},
	{"1.2.13.dfsg-1", "1:1.2.13.dfsg-1", -1},
	{"20230311", "20230311+deb12u1", -1},
	{"1.20.1-2+deb12u2", "1.20.1-2+deb12u2", 0},
	{"", "0", 0},
	{"", "1", -1},
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range versionOrder {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			if got := pkgdiff.CompareVersions(tc.a, tc.b); got != tc.want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
			if got := pkgdiff.CompareVersions(tc.b, tc.a); got != -tc.want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	cases := []struct {
		in      string
		want    pkgdiff.Version
		wantErr bool
	}{
		{in: "1.0", want: pkgdiff.Version{Upstream: "1.0"}},
		{in: "1:9.2p1-2+deb12u10", want: pkgdiff.Version{Epoch: 1, Upstream: "9.2p1", Revision: "2+deb12u10"}},
		{in: "1.2-3-4", want: pkgdiff.Version{Upstream: "1.2-3", Revision: "4"}},
		{in: "1:2:3-4", want: pkgdiff.Version{Epoch: 1, Upstream: "2:3", Revision: "4"}},
		{in: " 1.0 ", want: pkgdiff.Version{Upstream: "1.0"}},
		{in: "abc", want: pkgdiff.Version{Upstream: "abc"}}, // dpkg warns, but compares it
		{in: "a:1", wantErr: true},
		{in: ":1", wantErr: true},
		{in: "1:", wantErr: true},
		{in: "-1:1", wantErr: true},
		{in: "1.0-", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "1 0", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := pkgdiff.ParseVersion(tc.in)
			if tc.wantErr {
				if !errors.Is(err, pkgdiff.ErrBadVersion) {
					t.Fatalf("ParseVersion(%q) = %+v, %v; want an ErrBadVersion", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseVersion(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestCompareVersionsAgainstDpkg checks generated pairs, many of them near misses, against
// dpkg itself.
func TestCompareVersionsAgainstDpkg(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg is not installed")
	}
	if testing.Short() {
		t.Skip("runs dpkg a thousand times")
	}
	pairs := versionPairs(rand.New(rand.NewPCG(1, 2)), 500)

	type result struct{ got, want int }
	results := make([]result, len(pairs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, p := range pairs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = result{got: pkgdiff.CompareVersions(p[0], p[1]), want: dpkgCompare(t, dpkg, p[0], p[1])}
		})
	}
	wg.Wait()
	var orders [3]int
	for i, r := range results {
		orders[r.want+1]++
		if r.got != r.want {
			t.Errorf("CompareVersions(%q, %q) = %d, dpkg says %d", pairs[i][0], pairs[i][1], r.got, r.want)
		}
	}
	// A generator that only made unequal pairs would not test much.
	t.Logf("dpkg ordered %d pairs: %d less, %d equal, %d greater", len(pairs), orders[0], orders[1], orders[2])
	if orders[0] == 0 || orders[1] == 0 || orders[2] == 0 {
		t.Errorf("generated pairs are not varied enough: %v", orders)
	}
}

func dpkgCompare(t *testing.T, dpkg, a, b string) int {
	holds := func(op string) bool {
		err := exec.CommandContext(context.Background(), dpkg, "--compare-versions", a, op, b).Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return true
		case errors.As(err, &exit) && exit.ExitCode() == 1:
			return false
		}
		t.Errorf("dpkg --compare-versions %q %s %q: %v", a, op, b, err)
		return false
	}
	switch {
	case holds("lt"):
		return -1
	case holds("gt"):
		return 1
	}
	return 0
}

// versionPairs makes n pairs of valid versions: some unrelated, most one small edit apart,
// built from the pieces that make version ordering hard.
func versionPairs(r *rand.Rand, n int) [][2]string {
	pieces := []string{"0", "00", "1", "01", "2", "9", "10", "99", "a", "b", "z", "A", "p", "~", "~~", "~rc", "+", "+deb12u", ".", "..", "+b"}
	part := func(first string) string {
		var sb strings.Builder
		sb.WriteString(first)
		for range r.IntN(5) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		return sb.String()
	}
	version := func() []string {
		v := []string{"", part(fmt.Sprint(r.IntN(12))), ""}
		if r.IntN(4) == 0 {
			v[0] = fmt.Sprint(r.IntN(3)) + ":"
		}
		if r.IntN(3) > 0 {
			v[2] = "-" + part(pieces[r.IntN(len(pieces))])
			if v[2] == "-" || strings.HasSuffix(v[2], "-") {
				v[2] += "1"
			}
		}
		return v
	}
	join := func(v []string) string { return v[0] + v[1] + v[2] }
	var out [][2]string
	for len(out) < n {
		a := version()
		b := append([]string(nil), a...)
		switch r.IntN(5) {
		case 0:
			b = version()
		case 1:
			b[0] = []string{"", "0:", "1:"}[r.IntN(3)]
		case 2:
			b[1] = b[1] + pieces[r.IntN(len(pieces))]
		case 3:
			b[2] = "-" + part(pieces[r.IntN(len(pieces))])
		case 4:
			// Insert a piece somewhere inside the upstream version, after its first digit.
			i := 1 + r.IntN(len(b[1]))
			b[1] = b[1][:i] + pieces[r.IntN(len(pieces))] + b[1][i:]
		}
		va, vb := join(a), join(b)
		if _, err := pkgdiff.ParseVersion(va); err != nil {
			continue
		}
		if _, err := pkgdiff.ParseVersion(vb); err != nil {
			continue
		}
		out = append(out, [2]string{va, vb})
	}
	return out
}

func BenchmarkCompareVersions(b *testing.B) {
	for b.Loop() {
		for _, tc := range versionOrder {
			pkgdiff.CompareVersions(tc.a, tc.b)
		}
	}
}
