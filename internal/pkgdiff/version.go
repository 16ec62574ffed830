package pkgdiff

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrBadVersion is wrapped by ParseVersion's errors: the string is not a Debian version.
var ErrBadVersion = errors.New("bad Debian version")

// Version is a Debian package version, [epoch:]upstream[-revision], as dpkg splits it: the
// epoch ends at the first colon, the revision starts after the last hyphen.
type Version struct {
	// Epoch is zero when the version has none.
	Epoch    int
	Upstream string
	// Revision is empty when the version has no hyphen; dpkg treats that the same as "0".
	Revision string
}

// ParseVersion splits s as dpkg does and rejects what dpkg rejects as an error: embedded
// spaces, an empty or non-numeric epoch, nothing after the colon, an empty upstream version
// and an empty revision. Leading and trailing blanks are ignored. What dpkg only warns
// about (an upstream version not starting with a digit, unusual characters) is accepted.
func ParseVersion(s string) (Version, error) {
	v, err := parseVersion(s)
	if err != nil {
		return Version{}, fmt.Errorf("version %q: %w", s, err)
	}
	return v, nil
}

func parseVersion(s string) (Version, error) {
	s = strings.Trim(s, " \t")
	if strings.ContainsAny(s, " \t") {
		return Version{}, fmt.Errorf("%w: embedded spaces", ErrBadVersion)
	}
	var v Version
	if epoch, rest, ok := strings.Cut(s, ":"); ok {
		if epoch == "" {
			return Version{}, fmt.Errorf("%w: epoch is empty", ErrBadVersion)
		}
		n, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil || n < 0 || n > math.MaxInt32 {
			return Version{}, fmt.Errorf("%w: epoch %q is not a number up to %d", ErrBadVersion, epoch, math.MaxInt32)
		}
		if rest == "" {
			return Version{}, fmt.Errorf("%w: nothing after the epoch's colon", ErrBadVersion)
		}
		v.Epoch, s = int(n), rest
	}
	v.Upstream = s
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		v.Upstream, v.Revision = s[:i], s[i+1:]
		if v.Revision == "" {
			return Version{}, fmt.Errorf("%w: revision is empty", ErrBadVersion)
		}
	}
	if v.Upstream == "" {
		return Version{}, fmt.Errorf("%w: upstream version is empty", ErrBadVersion)
	}
	return v, nil
}

// lenientVersion splits s like ParseVersion but never fails: a malformed epoch is read as
// part of the upstream version, which still gives every pair of strings an order.
func lenientVersion(s string) Version {
	if v, err := parseVersion(s); err == nil {
		return v
	}
	s = strings.Trim(s, " \t")
	v := Version{Upstream: s}
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		v.Upstream, v.Revision = s[:i], s[i+1:]
	}
	return v
}

// String formats v the way dpkg prints it: no "0:" epoch, no "-" without a revision.
func (v Version) String() string {
	s := v.Upstream
	if v.Epoch != 0 {
		s = strconv.Itoa(v.Epoch) + ":" + s
	}
	if v.Revision != "" {
		s += "-" + v.Revision
	}
	return s
}

// Compare returns -1, 0 or +1 as v sorts before, with or after w in dpkg's order: epochs
// numerically, then upstream versions, then revisions, each with dpkg's verrevcmp.
func (v Version) Compare(w Version) int {
	switch {
	case v.Epoch < w.Epoch:
		return -1
	case v.Epoch > w.Epoch:
		return 1
	}
	if c := verrevcmp(v.Upstream, w.Upstream); c != 0 {
		return c
	}
	return verrevcmp(v.Revision, w.Revision)
}

// CompareVersions returns -1, 0 or +1 as Debian version a sorts before, with or after b,
// exactly as `dpkg --compare-versions` orders them. Strings that dpkg rejects as versions
// (see ParseVersion) are still ordered, reading a malformed epoch as part of the upstream
// version; the empty string sorts before every version, as it does for dpkg.
func CompareVersions(a, b string) int {
	return lenientVersion(a).Compare(lenientVersion(b))
}

// verrevcmp is dpkg's lib/dpkg/version.c verrevcmp: alternating runs of non-digits, compared
// character by character with order, and digits, compared as numbers.
func verrevcmp(a, b string) int {
	at := func(s string, i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		firstDiff := 0
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := order(at(a, i)), order(at(b, j))
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		for i < len(a) && j < len(b) && isDigit(a[i]) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}

// order ranks one character of a non-digit run: "~" before the end of the string, the end
// before letters, letters before everything else.
func order(c byte) int {
	switch {
	case isDigit(c):
		return 0
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		return int(c)
	case c == '~':
		return -1
	case c != 0:
		return int(c) + 256
	default:
		return 0
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
