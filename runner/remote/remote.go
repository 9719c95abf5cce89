// Package remote shares cache entries between machines through a server
// speaking Bazel's HTTP cache protocol (nginx with WebDAV PUT, bazel-remote
// started with --disable_http_ac_validation, or any server answering
// GET, HEAD and PUT on the paths below).
//
// # Protocol
//
// An entry of key K (the stage's 64-hex cache key) is stored as
//
//	<base>/ac/K              its manifest (cache.Manifest as JSON, file
//	                         modification times zeroed)
//	<base>/cas/<sha256>      each artifact file, by the SHA-256 of its bytes
//
// Uploads send the blobs first and the manifest last, so a reader never
// finds a manifest whose blobs were not sent. A blob the server already holds
// with the right size (HEAD) is not sent again: blobs are addressed by their
// content, so a second copy could only repeat the same bytes, and sending
// one that is missing or of the wrong size can only repair. A manifest is
// never written over one the server already holds.
//
// # Trust
//
// Nothing the server returns is trusted: a manifest must parse, carry the
// cache format, name the key asked for and hold key lines that hash to it,
// and list only plain relative file paths (no "..", no absolute path, no
// duplicate, no path inside another). Every blob is checked against the
// size and SHA-256 its manifest gives while it is written into a pending
// local entry, which the cache publishes (synced, renamed into place) only
// once every file passed. A rejected entry is a *RejectedError.
//
// # Failures
//
// The remote cache never makes a run fail. A connection failure, a timeout,
// a 5xx answer or a refused credential switches the Client off for the rest
// of its life after one warning in its log, so a dead server costs at most
// one timeout (Options), and every later call returns ErrUnavailable at
// once. A refused upload (401, 403) switches uploads off alone.
//
// # Credentials
//
// Credentials come from the environment only: DIFFLAB_REMOTE_CACHE_TOKEN (a
// bearer token) or DIFFLAB_REMOTE_CACHE_USER and
// DIFFLAB_REMOTE_CACHE_PASSWORD (basic authentication). A URL carrying a
// user or a password is refused, since URLs end up in logs and process
// lists. https URLs use Go's TLS client and the system's certificates
// (SSL_CERT_FILE adds others).
package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// The environment variables the Client reads.
const (
	// EnvURL names the remote cache when no flag does.
	EnvURL = "DIFFLAB_REMOTE_CACHE"
	// EnvReadOnly, when "1", "true" or "yes", makes the remote cache
	// read-only.
	EnvReadOnly = "DIFFLAB_REMOTE_CACHE_READ_ONLY"
	// EnvToken holds a bearer token.
	EnvToken = "DIFFLAB_REMOTE_CACHE_TOKEN"
	// EnvUser and EnvPassword hold basic-authentication credentials.
	EnvUser     = "DIFFLAB_REMOTE_CACHE_USER"
	EnvPassword = "DIFFLAB_REMOTE_CACHE_PASSWORD"
)

// Default timeouts; see Options.
const (
	DefaultConnectTimeout  = 2 * time.Second
	DefaultResponseTimeout = 5 * time.Second
	DefaultStallTimeout    = 10 * time.Second
)

// ErrUnavailable is returned by every call of a Client that a failed
// request switched off. The failure itself was logged once.
var ErrUnavailable = errors.New("remote cache unavailable")

// ErrNotFound is returned for a key the server has no manifest for.
var ErrNotFound = errors.New("not in the remote cache")

// RejectedError reports a remote entry that exists but fails verification:
// it is ignored, and not written over.
type RejectedError struct {
	Key string
	Err error
}

// Error says why the entry was rejected.
func (e *RejectedError) Error() string {
	return fmt.Sprintf("remote entry %s rejected: %v", short(e.Key), e.Err)
}

// Unwrap returns the cause.
func (e *RejectedError) Unwrap() error { return e.Err }

// Options configure a Client. Zero durations take the defaults.
type Options struct {
	// ReadOnly disables uploads.
	ReadOnly bool
	// Log receives the one warning that switches the Client off.
	Log zerolog.Logger
	// ConnectTimeout bounds connecting (TCP, and the TLS handshake).
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the wait for a response's headers once the
	// request is sent.
	ResponseTimeout time.Duration
	// StallTimeout bounds the time a transfer may go without moving a byte.
	StallTimeout time.Duration
}

// Client talks to one remote cache. It is safe for concurrent use.
type Client struct {
	base     *url.URL
	http     *http.Client
	auth     string // Authorization header value, or ""
	readOnly atomic.Bool
	log      zerolog.Logger
	stall    time.Duration

	off       atomic.Bool
	offOnce   sync.Once
	writeOnce sync.Once
}

// New returns a Client for the server at rawURL (http or https, optionally
// with a path prefix), with credentials from the environment.
func New(rawURL string, o Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("remote cache URL %q: %v", rawURL, err)
	}
	switch {
	case u.User != nil:
		return nil, fmt.Errorf("remote cache URL carries credentials (fix: remove them from the URL and set %s, or %s and %s, in the environment)", EnvToken, EnvUser, EnvPassword)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("remote cache URL %q: want http:// or https://", rawURL)
	case u.Host == "":
		return nil, fmt.Errorf("remote cache URL %q names no host", rawURL)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("remote cache URL %q: a query or fragment is not allowed (fix: credentials go in %s)", rawURL, EnvToken)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	auth, err := authFromEnv()
	if err != nil {
		return nil, err
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = DefaultResponseTimeout
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   o.ConnectTimeout,
		ResponseHeaderTimeout: o.ResponseTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       30 * time.Second,
	}
	c := &Client{base: u, http: &http.Client{Transport: tr}, auth: auth, log: o.Log, stall: o.StallTimeout}
	c.readOnly.Store(o.ReadOnly)
	if auth != "" && u.Scheme == "http" && !loopback(u.Hostname()) {
		o.Log.Warn().Str("remote_cache", c.String()).Msg("credentials for the remote cache travel unencrypted over http (fix: use an https URL)")
	}
	return c, nil
}

// ReadOnlyFromEnv reports whether EnvReadOnly asks for a read-only remote
// cache.
func ReadOnlyFromEnv() bool {
	v := strings.ToLower(os.Getenv(EnvReadOnly))
	return v == "1" || v == "true" || v == "yes"
}

// authFromEnv returns the Authorization header the environment's
// credentials give, or "".
func authFromEnv() (string, error) {
	token, user, pass := os.Getenv(EnvToken), os.Getenv(EnvUser), os.Getenv(EnvPassword)
	switch {
	case token != "" && (user != "" || pass != ""):
		return "", fmt.Errorf("both %s and %s/%s are set (fix: set one kind of credentials)", EnvToken, EnvUser, EnvPassword)
	case token != "":
		return "Bearer " + token, nil
	case user == "" && pass == "":
		return "", nil
	case user == "" || pass == "":
		return "", fmt.Errorf("basic authentication needs both %s and %s", EnvUser, EnvPassword)
	}
	r := &http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization"), nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// String returns the server's URL.
func (c *Client) String() string { return c.base.String() }

// Credentials describes the credentials the Client sends, naming their
// environment variables and never their values.
func (c *Client) Credentials() string {
	switch {
	case strings.HasPrefix(c.auth, "Bearer "):
		return "bearer token from " + EnvToken
	case c.auth != "":
		return "basic authentication from " + EnvUser + " and " + EnvPassword
	}
	return "none"
}

// ReadOnly reports whether uploads are off (asked for, or refused by the
// server).
func (c *Client) ReadOnly() bool { return c.readOnly.Load() }

// Available reports whether the Client still talks to the server.
func (c *Client) Available() bool { return !c.off.Load() }

// Probe asks the server for a manifest that cannot exist and returns how
// long it took to answer. It does not switch the Client off.
func (c *Client) Probe(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	resp, cancel, err := c.do(ctx, http.MethodGet, "ac/"+strings.Repeat("0", 64), nil, 0)
	if err != nil {
		return 0, err
	}
	defer cancel()
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotFound:
		return time.Since(start), nil
	case authRefused(resp.StatusCode):
		return 0, fmt.Errorf("the server refuses access (%s) (fix: set %s, or %s and %s)", resp.Status, EnvToken, EnvUser, EnvPassword)
	}
	return 0, fmt.Errorf("the server answers %s", resp.Status)
}

func authRefused(code int) bool {
	return code == http.StatusUnauthorized || code == http.StatusForbidden
}

// errStalled is the cause of a request cancelled by the stall timeout.
var errStalled = errors.New("no data moved")

// do sends one request for path (relative to the base URL) with body of
// size bytes (nil for none). The request's context is cancelled when no
// byte moves for the stall timeout; cancel releases it once the caller is
// done with the response. An error means no response arrived.
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, size int64) (*http.Response, func(), error) {
	ctx, cancelCause := context.WithCancelCause(ctx)
	timer := time.AfterFunc(c.stall, func() { cancelCause(fmt.Errorf("%w for %s", errStalled, c.stall)) })
	cancel := func() {
		timer.Stop()
		cancelCause(nil)
	}
	if body != nil {
		body = &progress{r: body, timer: timer, d: c.stall}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+"/"+path, body)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	if body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errStalled) {
			err = cause
		}
		cancel()
		return nil, nil, err
	}
	resp.Body = &progress{r: resp.Body, c: resp.Body, timer: timer, d: c.stall, ctx: ctx}
	return resp, cancel, nil
}

// progress resets a stall timer whenever bytes move through it, and names
// the stall as the error of a read that it cut short.
type progress struct {
	r     io.Reader
	c     io.Closer
	timer *time.Timer
	d     time.Duration
	ctx   context.Context
}

// Read reads from the underlying reader.
func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.timer.Reset(p.d)
	}
	if err != nil && err != io.EOF && p.ctx != nil {
		if cause := context.Cause(p.ctx); errors.Is(cause, errStalled) {
			err = cause
		}
	}
	return n, err
}

// Close closes the underlying body, if any.
func (p *progress) Close() error {
	if p.c == nil {
		return nil
	}
	return p.c.Close()
}

// fail switches the Client off after a failed exchange, logging why once,
// and returns ErrUnavailable wrapping the cause. A cancelled ctx (the run
// was interrupted) switches nothing off.
func (c *Client) fail(ctx context.Context, what string, cause error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	c.offOnce.Do(func() {
		c.off.Store(true)
		c.log.Warn().Str("remote_cache", c.String()).Str("error", what+": "+cause.Error()).
			Msg("remote cache unavailable; going on without it for the rest of this run")
	})
	return fmt.Errorf("%w: %s: %v", ErrUnavailable, what, cause)
}

// refuseWrites switches uploads off after the server refused one.
func (c *Client) refuseWrites(status string) {
	c.writeOnce.Do(func() {
		c.readOnly.Store(true)
		c.log.Warn().Str("remote_cache", c.String()).Str("status", status).
			Msgf("the remote cache refuses uploads; going on read-only (fix: set %s, or %s and %s, with write access, or pass --remote-cache-read-only)", EnvToken, EnvUser, EnvPassword)
	})
}

// statusError turns an unexpected answer into an error, switching the
// Client off for a server error or refused credentials.
func (c *Client) statusError(ctx context.Context, what string, resp *http.Response) error {
	switch {
	case resp.StatusCode >= 500:
		return c.fail(ctx, what, errors.New(resp.Status))
	case authRefused(resp.StatusCode):
		return c.fail(ctx, what, fmt.Errorf("%s (fix: set %s, or %s and %s)", resp.Status, EnvToken, EnvUser, EnvPassword))
	}
	return fmt.Errorf("%s: the server answers %s", what, resp.Status)
}
