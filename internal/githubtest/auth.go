package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// appKey is the app's private key, generated once per process: a 2048-bit
// RSA key takes a noticeable fraction of a second, and every Server would
// pay it. Keys are only read after generation.
var appKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
})

// pemKey encodes key the way GitHub hands out app private keys (PKCS#1).
func pemKey(key *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// Limits GitHub puts on an app's JWT.
const (
	maxJWTLifetime = 10 * time.Minute
	// clockSkew is how far in the future an iat may lie; GitHub recommends
	// backdating iat by 60 seconds for drift.
	clockSkew = 60 * time.Second
	// tokenLifetime is how long an installation token lives.
	tokenLifetime = time.Hour
)

// checkAppJWT verifies an app's JWT as GitHub does: RS256 with the app's
// key, iss the app id (a string or a number), exp in the future and at most
// ten minutes after iat.
func (s *Server) checkAppJWT(raw string, now time.Time) error {
	claims := jwt.MapClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
	_, err := parser.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) {
		return &s.key.PublicKey, nil
	})
	if err != nil {
		return fmt.Errorf("a JSON web token could not be decoded: %w", err)
	}
	var iss string
	switch v := claims["iss"].(type) {
	case string:
		iss = v
	case float64:
		iss = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return errors.New("'Issuer' claim ('iss') must be the app id")
	}
	if iss != strconv.FormatInt(appID, 10) {
		return fmt.Errorf("'Issuer' claim ('iss') %q is not this app's id %d", iss, appID)
	}
	exp, ok := claims["exp"].(float64)
	if !ok {
		return errors.New("'Expiration time' claim ('exp') is missing")
	}
	iat, ok := claims["iat"].(float64)
	if !ok {
		return errors.New("'Issued at' claim ('iat') is missing")
	}
	expires, issued := time.Unix(int64(exp), 0), time.Unix(int64(iat), 0)
	switch {
	case exp != float64(int64(exp)) || iat != float64(int64(iat)):
		return errors.New("'Expiration time' and 'Issued at' claims must be integers")
	case !expires.After(now):
		return errors.New("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
	case issued.After(now.Add(clockSkew)):
		return errors.New("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued")
	case expires.Sub(issued) > maxJWTLifetime:
		return errors.New("'Expiration time' claim ('exp') is too far in the future")
	}
	return nil
}

// newToken issues an installation access token, ghs_ and 36 characters
// as GitHub's are, and remembers when it expires.
func (s *Server) newToken(now time.Time) (string, time.Time) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	raw := make([]byte, 36)
	_, _ = rand.Read(raw) // never fails, as documented
	var b strings.Builder
	b.WriteString("ghs_")
	for _, c := range raw {
		b.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	tok := b.String()
	expires := now.Add(tokenLifetime).Truncate(time.Second)
	s.mu.Lock()
	s.tokens[tok] = expires
	s.mu.Unlock()
	return tok, expires
}

// checkToken verifies an Authorization header carrying an installation
// token ("token ghs_…" or "Bearer ghs_…").
func (s *Server) checkToken(header string, now time.Time) bool {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || (!strings.EqualFold(scheme, "token") && !strings.EqualFold(scheme, "bearer")) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	expires, ok := s.tokens[strings.TrimSpace(tok)]
	return ok && now.Before(expires)
}

// bearer returns the JWT of an "Authorization: Bearer <jwt>" header.
func bearer(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}
