package experiment

import (
	"fmt"
	"slices"
)

// promptTables caches the prompt tables of model producers, by node; a nil
// table is one its kind cannot tell before the run.
type promptTables map[*Node][]string

// table returns the prompt table of the model that n outputs, or nil.
func (pt promptTables) table(n *Node) []string {
	if t, ok := pt[n]; ok {
		return t
	}
	var t []string
	if n.Kind.Prompts != nil {
		// An error leaves the check to the stage, which reports it with
		// the model's files when it runs.
		t, _ = n.Kind.Prompts(n.Params)
	}
	pt[n] = t
	return t
}

// checkPrompts checks the Prompt parameters of s's nodes against the prompt
// table of the model on their "model" input, where its producer declares
// one, so that a misspelt prompt fails before a model is trained for it.
func checkPrompts(s *stageInfo, pt promptTables, c *collector) {
	reported := map[string]bool{}
	for _, n := range s.nodes {
		srcs := n.Inputs["model"]
		if len(srcs) == 0 {
			continue
		}
		model := srcs[0].Node
		table := pt.table(model)
		if table == nil {
			continue
		}
		for _, p := range s.kind.Params {
			if !p.Prompt {
				continue
			}
			var values []string
			switch v := n.Params[p.Name].(type) {
			case string:
				values = []string{v}
			case []string:
				values = v
			}
			for _, v := range values {
				if slices.Contains(table, v) {
					continue
				}
				msg := fmt.Sprintf("parameter %s: the model of stage %s does not know the prompt %q", p.Name, model.Stage, clip(v))
				if reported[msg] {
					continue
				}
				reported[msg] = true
				known := slices.DeleteFunc(slices.Clone(table), func(p string) bool { return p == "" })
				fix := c.suggest(v, known, "prompts of the model")
				if len(known) == 0 {
					fix = `the model knows only the empty prompt "": leave the prompt empty, or give the model a prompt table (or embeddings) with it`
				}
				c.add(s.checkPos(msg), fix, "stage %s: %s", n.ID, msg)
			}
		}
	}
}
