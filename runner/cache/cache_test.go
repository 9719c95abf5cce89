package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"difflab/stages"
	"difflab/stages/artifact"
)

func TestKeyKnownAnswer(t *testing.T) {
	b := NewKeyBuilder()
	b.Add("kind %s %d", "x", 1)
	// printf 'difflab-cache v1\nkind x 1\n' | sha256sum
	const want = "6bd814d5b78b2ed43cc4eb0f57a7922eb240c01eff8bd1a591ecd0428832298f"
	if got := b.Sum(); got != want {
		t.Fatalf("Sum = %s, want %s", got, want)
	}
	if l := b.Lines(); len(l) != 2 || l[0] != FormatVersion {
		t.Fatalf("Lines = %q", l)
	}
	b2 := NewKeyBuilder()
	b2.Add("kind x 1\nkind y 2")
	if b2.Sum() == SumLines([]string{FormatVersion, "kind x 1", "kind y 2"}) {
		t.Fatal("a newline inside a line must not split it into two lines")
	}
}

func TestValidKey(t *testing.T) {
	for k, want := range map[string]bool{
		strings.Repeat("a", 64):         true,
		strings.Repeat("A", 64):         false,
		strings.Repeat("a", 63):         false,
		"../" + strings.Repeat("a", 61): false,
	} {
		if ValidKey(k) != want {
			t.Errorf("ValidKey(%q) = %v", k, !want)
		}
	}
}

func key(i int) string { return SumLines([]string{"test", string(rune('a' + i))}) }

// publish writes an entry for k with one output file holding data.
func publish(t *testing.T, c *Cache, k string, data string) *Entry {
	t.Helper()
	p, err := c.Begin(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.OutDir(), "out.txt"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := p.Commit(&Manifest{Kind: "k", Outputs: []Output{{Name: "out", Type: "text", Files: []File{{Path: "out.txt"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestPublishAndVerify(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k := key(0)
	var miss *MissError
	if _, err := c.Get(k, false); !errors.As(err, &miss) || miss.Bad() || !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of an absent key: %v", err)
	}
	publish(t, c, k, "hello")
	e, err := c.Get(k, true)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := e.Load("out"); err != nil || a != artifact.Text("hello") {
		t.Fatalf("Load = %v, %v", a, err)
	}
	if got, err := os.ReadFile(filepath.Join(e.OutDir, "out.txt")); err != nil || string(got) != "hello" {
		t.Fatalf("entry file = %q, %v", got, err)
	}
	if temps, _ := os.ReadDir(filepath.Join(c.Root(), "tmp")); len(temps) != 0 {
		t.Fatalf("tmp holds %d leftovers after a commit", len(temps))
	}

	path := filepath.Join(e.OutDir, "out.txt")
	info, _ := os.Stat(path)
	// A byte flipped in place with the modification time restored is only
	// seen when verifying.
	os.WriteFile(path, []byte("hellO"), 0o644)
	os.Chtimes(path, info.ModTime(), info.ModTime())
	if _, err := c.Get(k, false); err != nil {
		t.Fatalf("without verify, an unchanged mtime trusts the file: %v", err)
	}
	if _, err := c.Get(k, true); !errors.As(err, &miss) || !miss.Bad() || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("verify missed a flipped byte: %v", err)
	}
	// A later edit changes the mtime and is seen without verify.
	later := info.ModTime().Add(time.Second)
	os.Chtimes(path, later, later)
	if _, err := c.Get(k, false); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("an edited file was not detected: %v", err)
	}
	// Republishing replaces the bad entry.
	publish(t, c, k, "hello")
	if _, err := c.Get(k, true); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte("hell"), 0o644)
	if _, err := c.Get(k, false); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("truncation not detected: %v", err)
	}
	os.Remove(path)
	if _, err := c.Get(k, false); err == nil || !strings.Contains(err.Error(), "out.txt") {
		t.Fatalf("missing file not detected: %v", err)
	}
	os.WriteFile(filepath.Join(e.Dir, "manifest.json"), []byte("{garbage"), 0o644)
	if _, err := c.Get(k, false); !errors.As(err, &miss) || !miss.Bad() || !strings.Contains(err.Error(), "manifest") {
		t.Fatalf("garbage manifest not detected: %v", err)
	}
	// An entry filed under another key is not served.
	publish(t, c, key(1), "x")
	os.RemoveAll(c.EntryDir(k))
	os.MkdirAll(filepath.Dir(c.EntryDir(k)), 0o755)
	if err := os.Rename(c.EntryDir(key(1)), c.EntryDir(k)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(k, false); err == nil || !strings.Contains(err.Error(), "names key") {
		t.Fatalf("entry of another key served: %v", err)
	}
}

func TestLockExcludes(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l1, err := c.Lock(ctx, key(0))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *Lock)
	go func() {
		l2, err := c.Lock(ctx, key(0))
		if err != nil {
			t.Error(err)
		}
		got <- l2
	}()
	select {
	case <-got:
		t.Fatal("second Lock succeeded while the first was held")
	case <-time.After(100 * time.Millisecond):
	}
	other, err := c.Lock(ctx, key(1))
	if err != nil {
		t.Fatal(err)
	}
	other.Unlock()
	l1.Unlock()
	(<-got).Unlock()

	l1, _ = c.Lock(ctx, key(0))
	defer l1.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.Lock(cctx, key(0)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock with an expired context = %v", err)
	}
}

// load reads file n of the state that s loads under name ("" if none).
func load(t *testing.T, s stages.State, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "loaded")
	ok, damaged, err := s.Load(name, dir)
	if err != nil || len(damaged) > 0 {
		t.Fatalf("Load: %v, damaged %v", err, damaged)
	}
	if !ok {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(dir, "n"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// saveN saves a state holding file n with content v.
func saveN(t *testing.T, s stages.State, v string) {
	t.Helper()
	if err := s.Save("epoch", func(dir string) error { return os.WriteFile(filepath.Join(dir, "n"), []byte(v), 0o644) }); err != nil {
		t.Fatal(err)
	}
}

func TestState(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := c.State(key(0), "e.yaml train")
	if v := load(t, s, "epoch"); v != "" {
		t.Fatal("Load found state that was never saved")
	}
	saveN(t, s, "1")
	saveN(t, s, "2")
	if v := load(t, s, "epoch"); v != "2" {
		t.Fatalf("state = %q; want the last saved", v)
	}
	if err := s.Save("epoch", func(string) error { return errors.New("disk full") }); err == nil {
		t.Fatal("a failed fill was published")
	}
	if v := load(t, s, "epoch"); v != "2" {
		t.Fatalf("state after a failed Save = %q; want the last saved", v)
	}
	// A Save killed after moving the old state aside, before publishing the
	// new one, leaves only <name>.previous: Load uses it, and the next Save
	// keeps it as the previous state.
	dir := filepath.Join(c.Root(), "state", key(0), "epoch")
	if err := os.RemoveAll(dir + previousSuffix); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, dir+previousSuffix); err != nil {
		t.Fatal(err)
	}
	if v := load(t, s, "epoch"); v != "2" {
		t.Fatalf("state after a killed Save = %q; want the previous one", v)
	}
	saveN(t, s, "3")
	if v := load(t, s, "epoch"); v != "3" {
		t.Fatalf("state = %q; want the last saved", v)
	}
	if b, err := os.ReadFile(filepath.Join(dir+previousSuffix, "n")); err != nil || string(b) != "2" {
		t.Fatalf("previous state = %q, %v; want the one saved before the last", b, err)
	}
	if err := s.Save(".owner", func(string) error { return nil }); err == nil {
		t.Error("a state name starting with a dot was accepted")
	}
	if err := s.Save("epoch", func(dir string) error { return os.WriteFile(filepath.Join(dir, recordFile), nil, 0o644) }); err == nil {
		t.Error("a state holding a file named like its record was accepted")
	}
	// Empty directories are part of a state.
	if err := s.Save("epoch", func(dir string) error { return os.Mkdir(filepath.Join(dir, "empty"), 0o755) }); err != nil {
		t.Fatal(err)
	}
	loaded := filepath.Join(t.TempDir(), "loaded")
	if ok, _, err := s.Load("epoch", loaded); !ok || err != nil {
		t.Fatalf("Load = %v, %v", ok, err)
	}
	if info, err := os.Stat(filepath.Join(loaded, "empty")); err != nil || !info.IsDir() {
		t.Fatalf("Load lost an empty directory: %v", err)
	}
	st, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.States != 1 || len(st.StateList) != 1 || st.StateList[0].Key != key(0) || st.StateList[0].Owner != "e.yaml train" ||
		st.StateList[0].Bytes < 1 || time.Since(st.StateList[0].Saved) > time.Minute {
		t.Fatalf("status of one saved state: %+v", st)
	}
	if err := c.DropState(key(0)); err != nil {
		t.Fatal(err)
	}
	if v := load(t, s, "epoch"); v != "" {
		t.Fatal("DropState left the state")
	}
	if c.HasState(key(0)) {
		t.Fatal("HasState after DropState")
	}
	// An owner file without a saved state (a Save that failed late) is no
	// state to resume from.
	if err := os.MkdirAll(filepath.Join(c.Root(), "state", key(0)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Root(), "state", key(0), ownerFile), []byte("e.yaml train\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c.HasState(key(0)) {
		t.Fatal("HasState with only an owner file")
	}
	if st, err := c.Status(); err != nil || st.States != 0 {
		t.Fatalf("status counts a key with only an owner file: %+v, %v", st, err)
	}
}

// TestDamagedState damages the files of a saved state on disk in each way
// a state can differ from its record: CheckState and Load report the file
// and what is wrong, and Load removes the state and falls back to the one
// saved before it, or finds none when that is damaged too.
func TestDamagedState(t *testing.T) {
	write := func(t *testing.T, path, data string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"changed byte", func(t *testing.T, dir string) { write(t, filepath.Join(dir, "sub", "b"), "bbbX") },
			"file sub/b has SHA-256 "},
		{"truncated", func(t *testing.T, dir string) { write(t, filepath.Join(dir, "sub", "b"), "bb") },
			"file sub/b is 2 bytes, its record says 4"},
		{"missing file", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "sub", "b")) },
			"file sub/b is missing"},
		{"added file", func(t *testing.T, dir string) { write(t, filepath.Join(dir, "sub", "c"), "c") },
			"file sub/c is not in its record"},
		{"unreadable record", func(t *testing.T, dir string) { write(t, filepath.Join(dir, recordFile), `{"format": `) },
			"unreadable record .digests.json: "},
		{"no record", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, recordFile)) },
			"no record of its files (.digests.json)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			s := c.State(key(0), "e.yaml train")
			save := func(v string) {
				if err := s.Save("epoch", func(dir string) error {
					if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
						return err
					}
					write(t, filepath.Join(dir, "sub", "b"), "bbbb")
					return os.WriteFile(filepath.Join(dir, "n"), []byte(v), 0o644)
				}); err != nil {
					t.Fatal(err)
				}
			}
			save("1")
			save("2")
			newest := filepath.Join(c.Root(), "state", key(0), "epoch")
			tc.damage(t, newest)
			want := "saved state " + Short(key(0)) + "/epoch: " + tc.want
			if ok, damaged := c.CheckState(key(0)); !ok || len(damaged) != 1 || !strings.HasPrefix(damaged[0].Error(), want) {
				t.Errorf("CheckState = %v, %v; want resumable and %q", ok, damaged, want)
			}
			dir := filepath.Join(t.TempDir(), "loaded")
			ok, damaged, err := s.Load("epoch", dir)
			if err != nil || !ok || len(damaged) != 1 || !strings.HasPrefix(damaged[0].Error(), want) {
				t.Fatalf("Load = %v, %v, %v; want the previous state and %q", ok, damaged, err, want)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "n")); string(b) != "1" {
				t.Errorf("Load gave state %q, want the previous one", b)
			}
			if _, err := os.Stat(newest); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the damaged state is still there: %v", err)
			}
			// The next Save keeps the previous state; damaged too, it goes.
			save("3")
			if b, err := os.ReadFile(filepath.Join(newest+previousSuffix, "n")); err != nil || string(b) != "1" {
				t.Fatalf("previous state after a Save: %q, %v", b, err)
			}
			for _, d := range []string{newest, newest + previousSuffix} {
				tc.damage(t, d)
			}
			if ok, damaged := c.CheckState(key(0)); ok || len(damaged) != 2 {
				t.Errorf("CheckState with both states damaged = %v, %v", ok, damaged)
			}
			if ok, damaged, err := s.Load("epoch", filepath.Join(t.TempDir(), "none")); ok || len(damaged) != 2 || err != nil {
				t.Fatalf("Load with both states damaged = %v, %v, %v", ok, damaged, err)
			}
			if c.HasState(key(0)) {
				t.Error("damaged states are still there")
			}
		})
	}
}

func TestGC(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		publish(t, c, key(i), "data")
		c.SetLast("e.yaml", string(rune('a'+i)), key(i))
	}
	// Leftovers of a killed run, and state of a published key.
	os.MkdirAll(filepath.Join(c.Root(), "tmp", entryTempPrefix+key(5)+"-123", "out"), 0o755)
	c.State(key(0), "").Save("x", func(string) error { return nil })
	held, _ := c.Lock(context.Background(), key(2))

	rep, err := c.GC(GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != 0 || rep.Temps != 1 || rep.States != 1 {
		t.Fatalf("leftover-only GC = %+v", rep)
	}
	rep, err = c.GC(GCOptions{Keep: map[string]bool{key(0): true}, DryRun: true})
	if err != nil || rep.Entries != 1 {
		t.Fatalf("dry run = %+v, %v (key 2 is locked, key 1 unreachable)", rep, err)
	}
	if _, err := c.Get(key(1), false); err != nil {
		t.Fatal("dry run removed an entry")
	}
	rep, err = c.GC(GCOptions{Keep: map[string]bool{key(0): true}})
	if err != nil || rep.Entries != 1 || rep.Index != 1 {
		t.Fatalf("GC = %+v, %v", rep, err)
	}
	if _, err := c.Get(key(1), false); err == nil {
		t.Fatal("unreachable entry kept")
	}
	if _, ok := c.Last("e.yaml", "b"); ok {
		t.Fatal("index record of a removed entry kept")
	}
	for _, k := range []string{key(0), key(2)} {
		if _, err := c.Get(k, false); err != nil {
			t.Fatalf("kept or locked entry removed: %v", err)
		}
	}
	held.Unlock()
	st, err := c.Status()
	if err != nil || st.Entries != 2 || st.Bytes == 0 || st.Temps != 0 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	// Age: nothing is an hour old yet.
	rep, _ = c.GC(GCOptions{OlderThan: time.Hour})
	if rep.Entries != 0 {
		t.Fatalf("GC by age removed fresh entries: %+v", rep)
	}
	c.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	rep, _ = c.GC(GCOptions{OlderThan: time.Hour})
	if rep.Entries != 2 {
		t.Fatalf("GC by age kept old entries: %+v", rep)
	}
}

func TestDigesterStatCache(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "data.bin")
	os.WriteFile(f, []byte("abc"), 0o644)
	old := time.Now().Add(-time.Minute)
	os.Chtimes(f, old, old)
	d := NewDigester(filepath.Join(dir, "stat.json"))
	// printf abc | sha256sum
	const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got, err := d.Digest(f); err != nil || got != abc {
		t.Fatalf("Digest = %s, %v", got, err)
	}
	if err := d.Save(); err != nil {
		t.Fatal(err)
	}
	// Same size and mtime: the remembered digest is used, also by a new
	// Digester reading the saved stat cache.
	os.WriteFile(f, []byte("xyz"), 0o644)
	os.Chtimes(f, old, old)
	if got, _ := NewDigester(filepath.Join(dir, "stat.json")).Digest(f); got != abc {
		t.Fatalf("stat cache not used: %s", got)
	}
	// A new mtime makes it hash again.
	os.Chtimes(f, old.Add(time.Second), old.Add(time.Second))
	if got, _ := d.Digest(f); got == abc {
		t.Fatal("changed file not rehashed")
	}
	// Recently modified files are not remembered (their mtime may not
	// change on the next write).
	g := filepath.Join(dir, "fresh.bin")
	os.WriteFile(g, []byte("abc"), 0o644)
	d.Digest(g)
	os.WriteFile(g, []byte("xyz"), 0o644)
	st, _ := os.Stat(g)
	os.Chtimes(g, st.ModTime(), st.ModTime())
	if got, _ := d.Digest(g); got == abc {
		t.Fatal("digest of a fresh file was remembered")
	}
	if n := d.Prune(); n != 0 {
		t.Fatalf("Prune forgot %d digests of existing files", n)
	}
	os.Remove(f)
	if n := d.Prune(); n != 1 {
		t.Fatalf("Prune forgot %d digests, want the deleted file's", n)
	}
	// Directories digest their files by relative name.
	sub := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(sub, "a"), 0o755)
	os.WriteFile(filepath.Join(sub, "a", "x"), []byte("1"), 0o644)
	d1, _ := d.Digest(sub)
	os.Rename(filepath.Join(sub, "a", "x"), filepath.Join(sub, "a", "y"))
	if d2, _ := d.Digest(sub); d1 == d2 {
		t.Fatal("renaming a file in a directory kept its digest")
	}
}

func TestDigesterRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	d := NewDigester(filepath.Join(dir, "stat.json"))
	if _, err := d.Digest("/dev/zero"); err == nil || !strings.Contains(err.Error(), "not a regular file but a character device") {
		t.Fatalf("Digest(/dev/zero) = %v, want an error, not endless reading", err)
	}
	// A link to a regular file inside a directory is followed; a FIFO is
	// an error, not a read that waits for a writer forever.
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(tree, 0o755)
	os.WriteFile(filepath.Join(dir, "target"), []byte("abc"), 0o644)
	os.Symlink(filepath.Join(dir, "target"), filepath.Join(tree, "link"))
	withLink, err := d.Digest(tree)
	if err != nil {
		t.Fatalf("a directory holding a link to a file: %v", err)
	}
	os.Remove(filepath.Join(tree, "link"))
	os.WriteFile(filepath.Join(tree, "link"), []byte("abc"), 0o644)
	if plain, _ := d.Digest(tree); plain != withLink {
		t.Fatal("a link digests differently from the file it names")
	}
	if err := syscall.Mkfifo(filepath.Join(tree, "pipe"), 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	if _, err := d.Digest(tree); err == nil || !strings.Contains(err.Error(), "pipe is not a regular file but a FIFO") {
		t.Fatalf("a directory holding a FIFO: %v", err)
	}
}

func TestLeaseLocks(t *testing.T) {
	dir := t.TempDir()
	open := func() *Cache {
		c, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		c.UseLeases(300 * time.Millisecond)
		return c
	}
	a, b := open(), open()
	key := strings.Repeat("c", 64)
	la, err := a.Lock(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if h := b.Holder(key); !strings.Contains(h, fmt.Sprintf("process %d", os.Getpid())) || !strings.Contains(h, "(lease ") {
		t.Errorf("holder: %q", h)
	}
	// A live holder renews its lease: waiting three lease times gets nothing.
	ctx, done := context.WithTimeout(context.Background(), 900*time.Millisecond)
	if _, err := b.Lock(ctx, key); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock of a live holder's key: %v", err)
	}
	done()
	la.Unlock()
	lb, err := b.Lock(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	// A holder that dies (stops renewing without unlocking) loses the
	// lock after about one lease time of a waiter watching it.
	close(lb.lease.stop)
	<-lb.lease.done
	start := time.Now()
	lc, err := a.Lock(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond || waited > 2*time.Second {
		t.Errorf("took a dead holder's lock after %s, want about the lease time", waited)
	}
	// The lock file is the new holder's; a holder whose lease was broken
	// finds out when it renews.
	if h := a.Holder(key); h == "" || strings.Contains(lb.lease.line, h) {
		t.Errorf("holder after the break: %q", h)
	}
	time.Sleep(200 * time.Millisecond)
	if lc.Lost() {
		t.Errorf("the live holder's lease is lost")
	}
	lc.Unlock()
	if _, err := os.Stat(filepath.Join(dir, "locks", key+".lease")); !os.IsNotExist(err) {
		t.Errorf("lease file left after Unlock: %v", err)
	}
}

func TestLeaseLost(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c.UseLeases(200 * time.Millisecond)
	key := strings.Repeat("d", 64)
	l, err := c.Lock(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	// Another process broke the lease and took it.
	path := filepath.Join(c.Root(), "locks", key+".lease")
	os.WriteFile(path, []byte("process 1 on elsewhere\n"), 0o644)
	time.Sleep(150 * time.Millisecond)
	if !l.Lost() {
		t.Fatal("a replaced lease is not reported lost")
	}
	l.Unlock()
	if b, _ := os.ReadFile(path); string(b) != "process 1 on elsewhere\n" {
		t.Errorf("Unlock of a lost lease removed the new holder's file")
	}
}

func TestLeaseEnv(t *testing.T) {
	t.Setenv(LeaseEnv, "90s")
	c, err := Open(t.TempDir())
	if err != nil || c.Leases() != 90*time.Second {
		t.Fatalf("Open with %s=90s: lease %s, %v", LeaseEnv, c.Leases(), err)
	}
	t.Setenv(LeaseEnv, "soon")
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), LeaseEnv) {
		t.Fatalf("Open with a bad %s: %v", LeaseEnv, err)
	}
}
