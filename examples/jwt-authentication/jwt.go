package main

// A minimal JSON Web Token (RFC 7519) implementation: HS256 only, which is
// all this example needs. It is written out here rather than taken from a
// JWT library so that the example shows every step of what "validating a
// JWT" means, and adds no dependency to the module. It follows the advice
// of RFC 8725: the algorithm is fixed (a token naming another one, such as
// "none", is refused), the signature is compared in constant time, and the
// expiry is required.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Claims are the token's claims: who it is for, and when it expires.
type Claims struct {
	Subject   string `json:"sub"`
	Role      string `json:"role,omitempty"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
}

// jwtHeader is the only header this code signs, and the only one it accepts.
const jwtHeader = `{"alg":"HS256","typ":"JWT"}`

// b64 is strict: a part with any other encoding than the canonical one
// (such as a changed last character that only touches unused bits) is
// refused rather than decoded to the same bytes.
var b64 = base64.RawURLEncoding.Strict()

// Errors of VerifyJWT, written for the person who sent the token.
var (
	errMalformed = errors.New("not a JWT (three base64url parts separated by dots)")
	errAlgorithm = errors.New("the token is not signed with HS256")
	errSignature = errors.New("the signature does not match: the token was changed, or signed with another key")
	errExpired   = errors.New("the token has expired")
)

// SignJWT returns the signed token for claims.
func SignJWT(c Claims, key []byte) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signed := b64.EncodeToString([]byte(jwtHeader)) + "." + b64.EncodeToString(payload)
	return signed + "." + b64.EncodeToString(mac(signed, key)), nil
}

// VerifyJWT checks token's algorithm, signature and expiry at now, and
// returns its claims.
func VerifyJWT(token string, key []byte, now time.Time) (Claims, error) {
	var c Claims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, errMalformed
	}
	header, err := b64.DecodeString(parts[0])
	if err != nil {
		return c, errMalformed
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(header, &h); err != nil {
		return c, errMalformed
	}
	if h.Alg != "HS256" {
		return c, errAlgorithm
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return c, errMalformed
	}
	if !hmac.Equal(sig, mac(parts[0]+"."+parts[1], key)) {
		return c, errSignature
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return c, errMalformed
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, errMalformed
	}
	if c.ExpiresAt == 0 || !now.Before(time.Unix(c.ExpiresAt, 0)) {
		return c, errExpired
	}
	return c, nil
}

func mac(signed string, key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signed))
	return m.Sum(nil)
}
