package tlsmgr

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/resedge/resedge/schema"
)

// NATSOptions returns the nats.go options that secure a connection as n
// says: a client certificate (nats.cert, nats.key), root CAs
// (nats.rootCAs), a credentials file (nats.creds) or an NKey seed file
// (nats.nkeySeed). User and password, or a token, go in the URLs. Every
// file is read first, so that a missing or broken one is reported by its
// key rather than as a failure to connect; certificate files are read
// again on each reconnection, so renewed ones are used. No secret appears
// in an error.
func NATSOptions(n schema.NATS) ([]nats.Option, error) {
	var opts []nats.Option
	if n.Creds != "" {
		if err := checkCreds(n.Creds); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(n.Creds))
	}
	if n.NKeySeed != "" {
		if err := checkSeed(n.NKeySeed); err != nil {
			return nil, err
		}
		opt, err := nats.NkeyOptionFromSeed(n.NKeySeed)
		if err != nil {
			return nil, fmt.Errorf("nats.nkeySeed: file %s: %w", n.NKeySeed, err)
		}
		opts = append(opts, opt)
	}
	var certCB nats.TLSCertHandler
	var rootsCB nats.RootCAsHandler
	if n.Cert != "" || n.Key != "" {
		if n.Cert == "" || n.Key == "" {
			return nil, errors.New("nats.cert and nats.key: set both or neither")
		}
		certCB = func() (tls.Certificate, error) {
			l, err := loadStatic(staticKey{n.Cert, n.Key})
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("NATS client %w", err)
			}
			return *l.cert, nil
		}
	}
	if len(n.RootCAs) > 0 {
		rootsCB = func() (*x509.CertPool, error) {
			pool, err := loadRoots(n.RootCAs)
			if err != nil {
				return nil, fmt.Errorf("nats.rootCAs: %w", err)
			}
			return pool, nil
		}
	}
	if certCB != nil || rootsCB != nil {
		// Fail here, with the file's own error, rather than in Connect.
		if certCB != nil {
			if _, err := certCB(); err != nil {
				return nil, err
			}
		}
		if rootsCB != nil {
			if _, err := rootsCB(); err != nil {
				return nil, err
			}
		}
		opts = append(opts, nats.ClientTLSConfig(certCB, rootsCB))
	}
	return opts, nil
}

// checkCreds checks that a credentials file holds a user JWT and an NKey
// seed.
func checkCreds(path string) error {
	b, err := readFile("nats.creds:", path)
	if err != nil {
		return err
	}
	defer wipe(b)
	if _, err := nkeys.ParseDecoratedJWT(b); err != nil || !strings.Contains(string(b), "-----BEGIN NATS USER JWT-----") {
		return fmt.Errorf("nats.creds: file %s holds no user JWT (a .creds file from nsc or the account operator is needed)", path)
	}
	if _, err := nkeys.ParseDecoratedNKey(b); err != nil {
		return fmt.Errorf("nats.creds: file %s holds no user NKey seed", path)
	}
	return nil
}

// checkSeed checks that a file holds an NKey user seed.
func checkSeed(path string) error {
	b, err := readFile("nats.nkeySeed:", path)
	if err != nil {
		return err
	}
	defer wipe(b)
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return fmt.Errorf("nats.nkeySeed: file %s holds no NKey seed", path)
	}
	defer kp.Wipe()
	if pub, err := kp.PublicKey(); err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return fmt.Errorf("nats.nkeySeed: file %s holds an NKey seed that is not a user's (it must start with SU)", path)
	}
	return nil
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 'x'
	}
}

// ExplainNATSError turns an error from connecting to NATS with n into one
// that says what is wrong and which setting fixes it, keeping the
// original error's message after it. Errors it does not recognize are
// returned unchanged.
func ExplainNATSError(err error, n schema.NATS) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var why string
	switch {
	case errors.As(err, &unknownAuthority) || strings.Contains(msg, "certificate signed by unknown authority"):
		if len(n.RootCAs) > 0 {
			why = fmt.Sprintf("the NATS server's certificate is not signed by a CA in nats.rootCAs (%s)", strings.Join(n.RootCAs, ", "))
		} else {
			why = "the NATS server's certificate is not trusted: set nats.rootCAs (--natsrootca) to the CA that signed it"
		}
	case errors.As(err, &hostname) || strings.Contains(msg, "certificate is valid for"):
		why = "the NATS server's certificate is not valid for the host name in the URL"
	case strings.Contains(msg, "remote error: tls:"), strings.Contains(msg, "closed by remote after TLS handshake"):
		// With TLS 1.3 the server checks the client certificate after
		// the client's side of the handshake: a refusal then shows as
		// the connection closing.
		if n.Cert != "" {
			why = fmt.Sprintf("the NATS server rejected the client certificate in nats.cert (%s): is it signed by a CA the server trusts?", n.Cert)
		} else {
			why = "the NATS server requires a client certificate: set nats.cert and nats.key (--natscert, --natskey)"
		}
	case errors.Is(err, nats.ErrSecureConnWanted):
		why = "the NATS server does not offer TLS, but nats.cert, nats.rootCAs or a tls:// URL asks for it"
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked), errors.Is(err, nats.ErrAccountAuthExpired):
		switch {
		case n.Creds != "":
			why = fmt.Sprintf("the NATS server refused the credentials in nats.creds (%s): is the user's account known to the server, and the JWT still valid?", n.Creds)
		case n.NKeySeed != "":
			why = fmt.Sprintf("the NATS server refused the NKey in nats.nkeySeed (%s): is its public key configured on the server?", n.NKeySeed)
		case urlsHaveUserinfo(n.URLs):
			why = "the NATS server refused the user and password (or token) in the URL"
		default:
			why = "the NATS server requires authentication: set nats.creds (--creds) or nats.nkeySeed, or put user:password or a token in the URL"
		}
	default:
		return err
	}
	return fmt.Errorf("%s (%w)", why, err)
}

// urlsHaveUserinfo reports whether any URL carries a user or token.
func urlsHaveUserinfo(urls []string) bool {
	for _, s := range urls {
		if !strings.Contains(s, "://") {
			s = "nats://" + s
		}
		if u, err := url.Parse(s); err == nil && u.User != nil {
			return true
		}
	}
	return false
}
