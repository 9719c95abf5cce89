package artifact

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
)

// Metric is one named measurement of a set of samples, such as a
// classifier's accuracy or a Fréchet distance.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	// N is the number of samples measured.
	N int `json:"n"`
	// Lo and Hi, when set, bound the 95% bootstrap interval of Value.
	Lo *float64 `json:"lo,omitempty"`
	Hi *float64 `json:"hi,omitempty"`
}

// Metrics is the list of measurements a metric stage reports, in a stable
// order.
type Metrics []Metric

// Type implements Artifact.
func (m Metrics) Type() Type { return TypeMetrics }

// Get returns the metric called name, or nil.
func (m Metrics) Get(name string) *Metric {
	for i := range m {
		if m[i].Name == name {
			return &m[i]
		}
	}
	return nil
}

// Save implements Artifact: it writes <name>.json.
func (m Metrics) Save(dir, name string) ([]string, error) {
	for _, x := range m {
		if math.IsNaN(x.Value) || math.IsInf(x.Value, 0) {
			return nil, fmt.Errorf("artifact: metrics %q: %s is %v", name, x.Name, x.Value)
		}
	}
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, err
	}
	return []string{name + ".json"}, writeFile(dir, name+".json", b)
}

func loadMetrics(dir, name string) (Metrics, error) {
	var m Metrics
	if err := readJSON(filepath.Join(dir, name+".json"), &m); err != nil {
		return nil, err
	}
	return m, nil
}
