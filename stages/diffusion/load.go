package diffusion

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"difflab/models/modelfile"
	"difflab/stages"
	"difflab/stages/artifact"
)

func init() {
	stages.Register(&stages.Kind{
		Name: "model.load",
		Doc: "Reads a model directory made outside difflab (such as DeepFloyd IF exported by " +
			"models/deepfloyd/export.py): the model.json named by path and every file next to it.",
		Version: 1,
		Outputs: []stages.Port{{Name: "model", Type: artifact.TypeModel, Doc: "the model directory"}},
		Params: []stages.Param{
			{Name: "path", Type: stages.Path, Doc: "the model's model.json, relative to the experiment file"},
		},
		Files: func(p stages.Params) ([]string, error) { return modelFiles(filepath.Dir(p.String("path"))) },
		Prompts: func(p stages.Params) ([]string, error) {
			return modelfile.PromptTable(filepath.Dir(p.String("path")))
		},
		Run: func(ctx *stages.Context) error {
			path := ctx.Params.String("path")
			if filepath.Base(path) != modelfile.FileName {
				return fmt.Errorf("stage %s: parameter path: %s is not a %s file; name the model directory's %s", ctx.Stage, path, modelfile.FileName, modelfile.FileName)
			}
			if _, err := modelfile.Read(filepath.Dir(path)); err != nil {
				return fmt.Errorf("stage %s: parameter path: %w", ctx.Stage, err)
			}
			return ctx.Output("model", &artifact.Model{Dir: filepath.Dir(path)})
		},
	})
}

// modelFiles lists the files of a model directory (regular files and
// symbolic links to them), recursively and sorted, so that their digests
// enter the stage's key.
func modelFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&os.ModeSymlink != 0 {
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				files = append(files, p)
			}
			return nil
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("model directory %s: %w", dir, err)
	}
	sort.Strings(files)
	return files, nil
}
