package runner

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"difflab/runner/cache"
	"difflab/runner/experiment"
	"difflab/stages"
)

// NodeKey is a node's cache key and the lines it was computed from.
type NodeKey struct {
	Key   string
	Lines []string
}

// Keys computes the cache key of every node of g, producers first, so that
// each consumer's key includes its inputs' keys, for stages whose engines
// run on devices (see Options.Devices; nil: every engine on its default
// device). The lines are:
//
//	difflab-cache v1                  (cache.FormatVersion)
//	kind NAME VERSION
//	param NAME CANONICAL-JSON         one per parameter, sorted by name; a
//	                                  path parameter contributes its base name;
//	                                  the kind's EngineParam is left out
//	                                  (the engine lines name the engine)
//	input PORT INDEX OUTPUT KEY       one per connection, ports sorted
//	file DIGEST BASENAME              one per file the node reads, sorted
//	engine NAME FACET VALUE           one per line of each engine that
//	                                  computes the stage (Kind.EnginesFor;
//	                                  EngineInfo.Lines): toolchain,
//	                                  modules, BLAS core, instruction set
//	engine NAME code VERSION          after them, when the kind's code for
//	                                  that engine has a version
//	                                  (Kind.EngineVersions)
//	device NAME DEVICE                after them, when the engine runs on a
//	                                  device other than its default
//
// Paths never enter a key, only file names and contents, so moving the
// checkout keeps every key. Anything else that changes a stage's outputs
// must become one of these lines.
func Keys(g *experiment.Graph, d *cache.Digester, devices map[string]string) (map[*experiment.Node]NodeKey, error) {
	keys := make(map[*experiment.Node]NodeKey, len(g.Nodes))
	for _, n := range g.Nodes {
		k, err := nodeKey(n, keys, d, devices)
		if err != nil {
			return nil, &KeyError{Pos: n.Pos, Stage: n.ID, Err: err}
		}
		keys[n] = k
	}
	return keys, nil
}

func nodeKey(n *experiment.Node, keys map[*experiment.Node]NodeKey, d *cache.Digester, devices map[string]string) (NodeKey, error) {
	b := cache.NewKeyBuilder()
	b.Add("kind %s %d", n.Kind.Name, n.Kind.Version)
	names := make([]string, 0, len(n.Params))
	for name := range n.Params {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == n.Kind.EngineParam {
			continue // the engine lines say which engine ran
		}
		v := n.Params[name]
		if p := n.Kind.Param(name); p != nil && p.Type == stages.Path {
			if s, ok := v.(string); ok && s != "" {
				v = filepath.Base(s)
			}
		}
		j, err := json.Marshal(v)
		if err != nil {
			return NodeKey{}, fmt.Errorf("parameter %s: %v", name, err)
		}
		b.Add("param %s %s", name, j)
	}
	ports := make([]string, 0, len(n.Inputs))
	for port := range n.Inputs {
		ports = append(ports, port)
	}
	sort.Strings(ports)
	for _, port := range ports {
		for i, src := range n.Inputs[port] {
			pk, ok := keys[src.Node]
			if !ok {
				return NodeKey{}, fmt.Errorf("input %s: producer %s comes later in the graph's order", port, src.Node.ID)
			}
			b.Add("input %s %d %s %s", port, i, src.Output, pk.Key)
		}
	}
	var files []string
	for _, f := range n.Files {
		sum, err := d.Digest(f)
		if err != nil {
			return NodeKey{}, &FileError{Path: f, Err: err}
		}
		files = append(files, fmt.Sprintf("file %s %s", sum, filepath.Base(f)))
	}
	sort.Strings(files)
	for _, f := range files {
		b.Add("%s", f)
	}
	for _, e := range n.Kind.EnginesFor(n.Params, devices) {
		info, err := engineInfo(e)
		if err != nil {
			return NodeKey{}, err
		}
		for _, l := range info.Lines {
			b.Add("engine %s %s", e, l)
		}
		if v := n.Kind.EngineVersions[e]; v != 0 {
			b.Add("engine %s code %d", e, v)
		}
		if dev := devices[e]; dev != "" {
			b.Add("device %s %s", e, dev)
		}
	}
	return NodeKey{Key: b.Sum(), Lines: b.Lines()}, nil
}

// KeyError reports a node whose key cannot be computed, usually because a
// file it reads is missing or unreadable.
type KeyError struct {
	Pos   experiment.Pos
	Stage string
	Err   error
}

// Error names the stage, its position and the cause.
func (e *KeyError) Error() string { return fmt.Sprintf("%s: stage %s: %v", e.Pos, e.Stage, e.Err) }

// Unwrap returns the cause.
func (e *KeyError) Unwrap() error { return e.Err }

// FileError is the error of a file a stage reads that cannot be read while
// its key is computed.
type FileError struct {
	Path string
	Err  error
}

// Error names the file and the cause.
func (e *FileError) Error() string {
	return fmt.Sprintf("reading %s: %v (fix: restore the file)", e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// ExplainKeys writes every node's key and the lines it was computed from.
func ExplainKeys(w io.Writer, g *experiment.Graph, keys map[*experiment.Node]NodeKey) {
	for _, n := range g.Nodes {
		k := keys[n]
		fmt.Fprintf(w, "key %s %s:%s\n\t%s\n", k.Key, n.Experiment.Path, n.ID, strings.Join(k.Lines, "\n\t"))
	}
}
