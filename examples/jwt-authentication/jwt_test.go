package main

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestJWT_SignedTokenVerifies(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	in := Claims{Subject: "alice", Role: "admin", IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}
	tok, err := SignJWT(in, testKey)
	if err != nil {
		t.Fatal(err)
	}
	out, err := VerifyJWT(tok, testKey, now.Add(time.Minute))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if out != in {
		t.Fatalf("claims %+v, want %+v", out, in)
	}
}

func TestJWT_Refused(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	good, err := SignJWT(Claims{Subject: "alice", IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}, testKey)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	enc := base64.RawURLEncoding.EncodeToString
	forged := enc([]byte(`{"sub":"mallory","iat":1700000000,"exp":1700003600}`))
	noExp, _ := SignJWT(Claims{Subject: "alice"}, testKey)

	for name, c := range map[string]struct {
		token string
		now   time.Time
		want  error
	}{
		"changed payload":  {parts[0] + "." + forged + "." + parts[2], now, errSignature},
		"other key":        {mustSign(t, []byte("another key, another signature!!"), now), now, errSignature},
		"alg none":         {enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".", now, errAlgorithm},
		"alg HS512":        {enc([]byte(`{"alg":"HS512","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2], now, errAlgorithm},
		"expired":          {good, now.Add(time.Hour), errExpired},
		"no expiry":        {noExp, now, errExpired},
		"two parts":        {parts[0] + "." + parts[1], now, errMalformed},
		"bad base64":       {parts[0] + "." + parts[1] + ".***", now, errMalformed},
		"header not JSON":  {enc([]byte("HS256")) + "." + parts[1] + "." + parts[2], now, errMalformed},
		"empty":            {"", now, errMalformed},
		"padded signature": {good + "=", now, errMalformed},
		"non-canonical":    {good[:len(good)-1] + nonCanonical(good[len(good)-1]), now, errMalformed},
	} {
		if _, err := VerifyJWT(c.token, testKey, c.now); err != c.want {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

func mustSign(t *testing.T, key []byte, now time.Time) string {
	t.Helper()
	tok, err := SignJWT(Claims{Subject: "alice", IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}, key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// nonCanonical returns another last character for a 32-byte base64url
// signature that decodes to the same bytes unless decoding is strict: the
// last of its 43 characters carries 4 data bits and 2 unused ones.
func nonCanonical(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i^1])
}
