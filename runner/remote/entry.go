package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"difflab/runner/cache"
)

// maxManifest bounds the size of a manifest read from the server.
const maxManifest = 16 << 20

// emptySHA256 is the digest of no bytes: such a file is written without
// asking the server.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Lookup returns the manifest the server holds for key after checking it
// (see Check) and that every blob it names is there with its size. check,
// when not nil, adds the caller's checks of the manifest, such as the
// outputs a stage kind declares. It downloads no blob.
func (c *Client) Lookup(ctx context.Context, key string, check func(*cache.Manifest) error) (*cache.Manifest, error) {
	m, err := c.manifest(ctx, key, check)
	if err != nil {
		return nil, err
	}
	for _, f := range files(m) {
		if f.Size == 0 && f.SHA256 == emptySHA256 {
			continue
		}
		size, err := c.blobSize(ctx, f.SHA256)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil, &RejectedError{key, fmt.Errorf("blob %s of file %s is missing", short(f.SHA256), f.Path)}
		case err != nil:
			return nil, err
		case size >= 0 && size != f.Size:
			return nil, &RejectedError{key, fmt.Errorf("blob %s of file %s is %d bytes, the manifest says %d", short(f.SHA256), f.Path, size, f.Size)}
		}
	}
	return m, nil
}

// Fetch downloads the entry of key into the cache cc and publishes it,
// verifying every file as it arrives; see the package comment. The caller
// holds the key's lock in cc. check is as for Lookup. The error is
// ErrNotFound, ErrUnavailable, a *RejectedError, or a local error of the
// cache; nothing is published unless every file passed.
func (c *Client) Fetch(ctx context.Context, cc *cache.Cache, key string, check func(*cache.Manifest) error) (*cache.Entry, error) {
	m, err := c.manifest(ctx, key, check)
	if err != nil {
		return nil, err
	}
	p, err := cc.Begin(key)
	if err != nil {
		return nil, err
	}
	for _, f := range files(m) {
		dst := filepath.Join(p.OutDir(), filepath.FromSlash(f.Path))
		if err := c.download(ctx, key, f, dst); err != nil {
			p.Abort()
			return nil, err
		}
	}
	m.Fetched = c.String() + " at " + time.Now().UTC().Format(time.RFC3339)
	return p.Commit(m)
}

// manifest returns the checked manifest of key.
func (c *Client) manifest(ctx context.Context, key string, check func(*cache.Manifest) error) (*cache.Manifest, error) {
	if !cache.ValidKey(key) {
		return nil, fmt.Errorf("remote cache: malformed key %q", key)
	}
	if c.off.Load() {
		return nil, ErrUnavailable
	}
	what := "GET /ac/" + key[:12]
	resp, cancel, err := c.do(ctx, http.MethodGet, "ac/"+key, nil, 0)
	if err != nil {
		return nil, c.fail(ctx, what, err)
	}
	defer cancel()
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, ErrNotFound
	case resp.StatusCode != http.StatusOK:
		return nil, c.statusError(ctx, what, resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, errStalled):
		return nil, c.fail(ctx, what, err)
	case err != nil:
		return nil, &RejectedError{key, fmt.Errorf("manifest: %v", err)}
	case len(b) > maxManifest:
		return nil, &RejectedError{key, fmt.Errorf("manifest larger than %d bytes", maxManifest)}
	}
	var m cache.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, &RejectedError{key, fmt.Errorf("unreadable manifest: %v", err)}
	}
	if err := Check(&m, key); err != nil {
		return nil, &RejectedError{key, err}
	}
	if check != nil {
		if err := check(&m); err != nil {
			return nil, &RejectedError{key, err}
		}
	}
	return &m, nil
}

// Check checks a manifest read from a server for key: the cache format,
// the key, key lines that hash to it, at least one file per output, file
// digests that look like SHA-256, and file paths that are plain, relative,
// distinct and not inside one another, so that nothing outside the
// entry's declared files is ever written.
func Check(m *cache.Manifest, key string) error {
	switch {
	case m.Format != cache.FormatVersion:
		return fmt.Errorf("manifest format %q, want %q", m.Format, cache.FormatVersion)
	case m.Key != key:
		return fmt.Errorf("manifest names key %s", short(m.Key))
	case cache.SumLines(m.KeyLines) != key:
		return errors.New("manifest's key lines do not hash to its key")
	case len(m.Outputs) == 0:
		return errors.New("manifest lists no outputs")
	}
	seen := map[string]bool{}
	names := map[string]bool{}
	for _, o := range m.Outputs {
		if names[o.Name] {
			return fmt.Errorf("manifest lists output %q twice", o.Name)
		}
		names[o.Name] = true
		if len(o.Files) == 0 {
			return fmt.Errorf("manifest lists no files for output %q", o.Name)
		}
		for _, f := range o.Files {
			if err := checkPath(f.Path); err != nil {
				return err
			}
			if seen[f.Path] {
				return fmt.Errorf("manifest lists file %q twice", f.Path)
			}
			seen[f.Path] = true
			if f.Size < 0 || !cache.ValidKey(f.SHA256) {
				return fmt.Errorf("manifest gives file %q size %d and digest %q", f.Path, f.Size, f.SHA256)
			}
		}
	}
	for p := range seen {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if seen[d] {
				return fmt.Errorf("manifest lists file %q inside file %q", p, d)
			}
		}
	}
	return nil
}

// checkPath accepts a slash-separated relative path without empty, "." or
// ".." elements or backslashes.
func checkPath(p string) error {
	ok := p != "" && !strings.Contains(p, `\`) && !strings.ContainsRune(p, 0) && filepath.IsLocal(p)
	for _, el := range strings.Split(p, "/") {
		ok = ok && el != "" && el != "." && el != ".."
	}
	if !ok {
		return fmt.Errorf("manifest lists file %q, which is not a plain relative path inside the entry", p)
	}
	return nil
}

// files lists every file a manifest records.
func files(m *cache.Manifest) []cache.File {
	var out []cache.File
	for _, o := range m.Outputs {
		out = append(out, o.Files...)
	}
	return out
}

// download writes blob f.SHA256 to dst (a new file), checking its size
// and digest.
func (c *Client) download(ctx context.Context, key string, f cache.File, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o777); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	defer out.Close()
	if f.Size == 0 && f.SHA256 == emptySHA256 {
		return nil
	}
	if c.off.Load() {
		return ErrUnavailable
	}
	what := "GET /cas/" + short(f.SHA256)
	resp, cancel, err := c.do(ctx, http.MethodGet, "cas/"+f.SHA256, nil, 0)
	if err != nil {
		return c.fail(ctx, what, err)
	}
	defer cancel()
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return &RejectedError{key, fmt.Errorf("blob %s of file %s is missing", short(f.SHA256), f.Path)}
	case resp.StatusCode != http.StatusOK:
		return c.statusError(ctx, what, resp)
	case resp.ContentLength >= 0 && resp.ContentLength != f.Size:
		return &RejectedError{key, fmt.Errorf("blob %s of file %s is %d bytes, the manifest says %d", short(f.SHA256), f.Path, resp.ContentLength, f.Size)}
	}
	w := &hashingWriter{f: out, h: sha256.New()}
	n, err := io.Copy(w, io.LimitReader(resp.Body, f.Size+1))
	switch {
	case w.err != nil:
		return w.err
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, errStalled):
		return c.fail(ctx, what, err)
	case err != nil:
		return &RejectedError{key, fmt.Errorf("file %s truncated after %d of %d bytes: %v", f.Path, n, f.Size, err)}
	case n != f.Size:
		return &RejectedError{key, fmt.Errorf("file %s is %d bytes or more, the manifest says %d", f.Path, n, f.Size)}
	}
	if sum := hex.EncodeToString(w.h.Sum(nil)); sum != f.SHA256 {
		return &RejectedError{key, fmt.Errorf("file %s has SHA-256 %s, the manifest says %s", f.Path, short(sum), short(f.SHA256))}
	}
	return out.Close()
}

// hashingWriter writes to a file and a hash, remembering a write error of
// the file (as opposed to a read error of what is copied into it).
type hashingWriter struct {
	f   *os.File
	h   hash.Hash
	err error
}

// Write writes b to the file and the hash.
func (w *hashingWriter) Write(b []byte) (int, error) {
	w.h.Write(b)
	n, err := w.f.Write(b)
	if err != nil {
		w.err = err
	}
	return n, err
}

// blobSize returns the size of a blob the server holds (-1 when it does not
// say), or ErrNotFound.
func (c *Client) blobSize(ctx context.Context, sum string) (int64, error) {
	return c.head(ctx, "cas/"+sum)
}

// head asks whether the server holds path and returns its size (-1 when
// unknown), or ErrNotFound.
func (c *Client) head(ctx context.Context, p string) (int64, error) {
	if c.off.Load() {
		return 0, ErrUnavailable
	}
	what := "HEAD /" + p[:min(len(p), 16)]
	resp, cancel, err := c.do(ctx, http.MethodHead, p, nil, 0)
	if err != nil {
		return 0, c.fail(ctx, what, err)
	}
	defer cancel()
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.ContentLength, nil
	case http.StatusNotFound:
		return 0, ErrNotFound
	}
	return 0, c.statusError(ctx, what, resp)
}

// Upload sends the entry e, published in the local cache, to the server:
// every blob the server lacks or holds with another size, then the
// manifest, unless the server already holds a manifest for the key
// (another machine was first, or its entry is damaged and a person must
// remove it: a manifest is never overwritten). It reports whether it wrote the
// manifest. Each file is hashed as it is sent; a file that no longer
// matches its manifest stops the upload before the manifest.
func (c *Client) Upload(ctx context.Context, e *cache.Entry) (bool, error) {
	if c.readOnly.Load() {
		return false, nil
	}
	sent := map[string]bool{}
	for _, f := range files(e.Manifest) {
		if sent[f.SHA256] || f.Size == 0 && f.SHA256 == emptySHA256 {
			continue
		}
		if err := c.putBlob(ctx, filepath.Join(e.OutDir, filepath.FromSlash(f.Path)), f); err != nil {
			return false, err
		}
		sent[f.SHA256] = true
	}
	if _, err := c.head(ctx, "ac/"+e.Key); !errors.Is(err, ErrNotFound) {
		return false, err
	}
	m := *e.Manifest
	m.Outputs = make([]cache.Output, len(e.Manifest.Outputs))
	for i, o := range e.Manifest.Outputs {
		o.Files = append([]cache.File(nil), o.Files...)
		for j := range o.Files {
			o.Files[j].MtimeNS = 0 // local to this machine
		}
		m.Outputs[i] = o
	}
	b, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		return false, err
	}
	if err := c.put(ctx, "ac/"+e.Key, bytes.NewReader(b), int64(len(b))); err != nil {
		return false, err
	}
	return true, nil
}

// putBlob sends the file at p as blob f.SHA256 unless the server holds it
// with the right size.
func (c *Client) putBlob(ctx context.Context, p string, f cache.File) error {
	size, err := c.blobSize(ctx, f.SHA256)
	if err == nil && size == f.Size {
		return nil
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	in, err := os.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	h := sha256.New()
	if err := c.put(ctx, "cas/"+f.SHA256, io.TeeReader(in, h), f.Size); err != nil {
		return err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != f.SHA256 {
		return fmt.Errorf("file %s changed since its entry was published (SHA-256 %s, manifest %s); its entry is not uploaded", f.Path, short(sum), short(f.SHA256))
	}
	return nil
}

// put sends size bytes of body to path.
func (c *Client) put(ctx context.Context, p string, body io.Reader, size int64) error {
	if c.off.Load() {
		return ErrUnavailable
	}
	if c.readOnly.Load() {
		return errors.New("uploads are off")
	}
	what := "PUT /" + p[:min(len(p), 16)]
	resp, cancel, err := c.do(ctx, http.MethodPut, p, body, size)
	if err != nil {
		return c.fail(ctx, what, err)
	}
	defer cancel()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case authRefused(resp.StatusCode):
		c.refuseWrites(resp.Status)
		return fmt.Errorf("%s: the server refuses uploads (%s)", what, resp.Status)
	case resp.StatusCode == http.StatusBadRequest && strings.HasPrefix(p, "ac/"):
		return fmt.Errorf("%s: the server answers %s (fix: a bazel-remote server needs --disable_http_ac_validation to store difflab's manifests)", what, resp.Status)
	}
	return c.statusError(ctx, what, resp)
}

func short(s string) string { return s[:min(len(s), 12)] }
