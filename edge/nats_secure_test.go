package edge

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/resedge/resedge/schema"
)

// testCA is a certificate authority made for a test.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	pemFile string
}

// newTestCA makes a CA and writes its certificate into dir.
func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, pemFile: filepath.Join(dir, name+".pem")}
	writePEM(t, ca.pemFile, "CERTIFICATE", der)
	return ca
}

// issue makes a certificate signed by ca, for a server (127.0.0.1) or a
// client, writes it and its key into dir and returns their paths.
func (ca *testCA) issue(t *testing.T, dir, name string, client bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses = nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeText(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runSecureNATS starts a NATS server on 127.0.0.1 with opts (port and
// logging set here) and returns its port.
func runSecureNATS(t *testing.T, opts *server.Options) int {
	t.Helper()
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", -1, true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s.Addr().(*net.TCPAddr).Port
}

// natsCase is a connection attempt and what it must give: a working
// connection (want "") or an error containing want.
type natsCase struct {
	name string
	n    schema.NATS
	want string
}

// checkConnect runs cases against a server; secrets must appear in no
// error or log line.
func checkConnect(t *testing.T, cases []natsCase, secrets ...string) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			log, logs := newTestLogger()
			nc, _, err := connectNATS(tt.n, 0, false, log)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				defer nc.Close()
				if err := nc.Flush(); err != nil {
					t.Fatalf("flush: %v", err)
				}
				return
			}
			if err == nil {
				nc.Close()
				t.Fatalf("connected; want an error with %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error()+logs.String(), s) {
					t.Errorf("secret %q leaked: error %q, log:\n%s", s, err, logs.String())
				}
			}
		})
	}
}

// TestNATSClientCertificate: a NATS server that requires verified client
// certificates accepts resedge with the right certificate, key and root
// CA; wrong or missing material fails with an error saying what to fix.
func TestNATSClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "nats-ca")
	other := newTestCA(t, dir, "other-ca")
	srvCert, srvKey := ca.issue(t, dir, "server", false)
	cliCert, cliKey := ca.issue(t, dir, "client", true)
	strangerCert, strangerKey := other.issue(t, dir, "stranger", true)
	tlsCfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: srvCert, KeyFile: srvKey, CaFile: ca.pemFile, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	port := runSecureNATS(t, &server.Options{TLSConfig: tlsCfg, TLSVerify: true, TLSTimeout: 2})
	url := "tls://127.0.0.1:" + strconv.Itoa(port)
	plain := "nats://127.0.0.1:" + strconv.Itoa(port) // the server's INFO asks for TLS
	n := func(u, cert, key string, roots ...string) schema.NATS {
		return schema.NATS{URLs: []string{u}, Cert: cert, Key: key, RootCAs: roots}
	}
	checkConnect(t, []natsCase{
		{"right material", n(url, cliCert, cliKey, ca.pemFile), ""},
		{"nats:// URL, TLS required by the server", n(plain, cliCert, cliKey, ca.pemFile), ""},
		{"no client certificate", n(url, "", "", ca.pemFile),
			"the NATS server requires a client certificate: set nats.cert and nats.key (--natscert, --natskey)"},
		{"client certificate from another CA", n(url, strangerCert, strangerKey, ca.pemFile),
			"the NATS server rejected the client certificate in nats.cert (" + strangerCert + ")"},
		{"server not trusted", n(url, cliCert, cliKey),
			"the NATS server's certificate is not trusted: set nats.rootCAs (--natsrootca) to the CA that signed it"},
		{"server signed by another CA", n(url, cliCert, cliKey, other.pemFile),
			"the NATS server's certificate is not signed by a CA in nats.rootCAs (" + other.pemFile + ")"},
		{"missing key file", n(url, cliCert, filepath.Join(dir, "none.pem"), ca.pemFile),
			"NATS connection settings: NATS client key file " + filepath.Join(dir, "none.pem") + " does not exist"},
		{"certificate and key swapped", n(url, cliKey, cliCert, ca.pemFile),
			"NATS client certificate file " + cliKey + " holds no PEM certificate"},
		{"root CA not PEM", n(url, cliCert, cliKey, cliKey),
			"nats.rootCAs: CA root file " + cliKey + " holds no PEM certificate"},
	})
}

// credentials is an operator, an account the server knows, and a user of
// it, made with the nkeys and jwt libraries as nsc would.
type credentials struct {
	operator *jwt.OperatorClaims
	resolver *server.MemAccResolver
	creds    []byte // the user's .creds file: JWT and seed
	seed     []byte
}

func newCredentials(t *testing.T, known bool) credentials {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, _ := okp.PublicKey()
	ojwt, err := jwt.NewOperatorClaims(opub).Encode(okp)
	must(err)
	oc, err := jwt.DecodeOperatorClaims(ojwt)
	must(err)
	akp, err := nkeys.CreateAccount()
	must(err)
	apub, _ := akp.PublicKey()
	ajwt, err := jwt.NewAccountClaims(apub).Encode(okp)
	must(err)
	ukp, err := nkeys.CreateUser()
	must(err)
	upub, _ := ukp.PublicKey()
	ujwt, err := jwt.NewUserClaims(upub).Encode(akp)
	must(err)
	seed, err := ukp.Seed()
	must(err)
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	must(err)
	c := credentials{operator: oc, resolver: &server.MemAccResolver{}, creds: creds, seed: seed}
	if known {
		must(c.resolver.Store(apub, ajwt))
	}
	return c
}

// TestNATSCredentials: a NATS server in operator mode (JWT accounts)
// accepts resedge with a user's credentials file and refuses missing,
// foreign or broken ones, saying so.
func TestNATSCredentials(t *testing.T) {
	dir := t.TempDir()
	good := newCredentials(t, true)
	foreign := newCredentials(t, false) // its account is unknown to the server
	port := runSecureNATS(t, &server.Options{TrustedOperators: []*jwt.OperatorClaims{good.operator}, AccountResolver: good.resolver})
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	goodFile := writeText(t, dir, "good.creds", string(good.creds))
	foreignFile := writeText(t, dir, "foreign.creds", string(foreign.creds))
	seedOnly := writeText(t, dir, "seed-only.creds", string(good.seed))
	n := func(creds string) schema.NATS { return schema.NATS{URLs: []string{url}, Creds: creds} }
	checkConnect(t, []natsCase{
		{"right credentials", n(goodFile), ""},
		{"no credentials", n(""),
			"the NATS server requires authentication: set nats.creds (--creds) or nats.nkeySeed, or put user:password or a token in the URL"},
		{"credentials of an unknown account", n(foreignFile),
			"the NATS server refused the credentials in nats.creds (" + foreignFile + ")"},
		{"not a credentials file", n(seedOnly),
			"nats.creds: file " + seedOnly + " holds no user JWT"},
		{"missing file", n(filepath.Join(dir, "none.creds")),
			"nats.creds: file " + filepath.Join(dir, "none.creds") + " does not exist"},
	}, string(good.seed), string(foreign.seed))
}

// TestNATSNKeyAndURLSecrets: an NKey seed file, a user and password, or a
// token in the URL authenticate; wrong ones fail saying which setting was
// refused, without the secret.
func TestNATSNKeyAndURLSecrets(t *testing.T) {
	dir := t.TempDir()
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	seed, _ := ukp.Seed()
	wrong, _ := nkeys.CreateUser()
	wrongSeed, _ := wrong.Seed()
	akp, _ := nkeys.CreateAccount()
	accountSeed, _ := akp.Seed()
	nkeyPort := runSecureNATS(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: upub}}})
	nkeyURL := "nats://127.0.0.1:" + strconv.Itoa(nkeyPort)
	seedFile := writeText(t, dir, "user.nk", string(seed))
	wrongFile := writeText(t, dir, "wrong.nk", string(wrongSeed))
	accountFile := writeText(t, dir, "account.nk", string(accountSeed))
	userPort := runSecureNATS(t, &server.Options{Username: "gateway", Password: "s3cret-pass"})
	tokenPort := runSecureNATS(t, &server.Options{Authorization: "s3cret-token"})
	at := func(port int, userinfo string) []string {
		return []string{"nats://" + userinfo + "@127.0.0.1:" + strconv.Itoa(port)}
	}
	checkConnect(t, []natsCase{
		{"NKey seed", schema.NATS{URLs: []string{nkeyURL}, NKeySeed: seedFile}, ""},
		{"wrong NKey", schema.NATS{URLs: []string{nkeyURL}, NKeySeed: wrongFile},
			"the NATS server refused the NKey in nats.nkeySeed (" + wrongFile + ")"},
		{"an account seed", schema.NATS{URLs: []string{nkeyURL}, NKeySeed: accountFile},
			"nats.nkeySeed: file " + accountFile + " holds an NKey seed that is not a user's"},
		{"user and password", schema.NATS{URLs: at(userPort, "gateway:s3cret-pass")}, ""},
		{"wrong password", schema.NATS{URLs: at(userPort, "gateway:wrong-pass")},
			"the NATS server refused the user and password (or token) in the URL"},
		{"token", schema.NATS{URLs: at(tokenPort, "s3cret-token")}, ""},
		{"wrong token", schema.NATS{URLs: at(tokenPort, "wrong-token")},
			"the NATS server refused the user and password (or token) in the URL"},
	}, string(seed), string(wrongSeed), string(accountSeed), "wrong-pass", "wrong-token")
}
