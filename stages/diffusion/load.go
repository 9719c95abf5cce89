package diffusion

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
		Check: func(p stages.Params) error { return checkModel(p.String("path")) },
		Files: func(p stages.Params) ([]string, error) { return modelFiles(p.String("path")) },
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

// checkModel reads the model.json at path and checks it against its ONNX
// graph's inputs and outputs, read from the file (modelfile.MatchGraph), so
// that a model the stages cannot run is an error before anything runs. A
// missing ONNX file is left to modelFiles to report.
func checkModel(path string) error {
	if filepath.Base(path) != modelfile.FileName {
		return fmt.Errorf("parameter path: %s is not a %s file; name the model directory's %s", path, modelfile.FileName, modelfile.FileName)
	}
	dir := filepath.Dir(path)
	d, err := modelfile.Read(dir)
	if err != nil {
		return fmt.Errorf("parameter path: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, d.ONNX)); err != nil {
		return nil
	}
	if _, err := modelfile.MatchGraph(dir, d); err != nil {
		return fmt.Errorf("parameter path: %w", err)
	}
	return nil
}

// modelFiles lists the files of the model directory holding the model.json
// at path (regular files and symbolic links to them), recursively and
// sorted, so that their digests enter the stage's key. The files the model
// reads (modelfile.Description.Files: the ONNX graph and the external data
// files of its tensors, the prompt embeddings) must be among them: one that
// is missing, or outside the directory, is an error before anything runs.
// A model.json that does not read is left to Run to report.
func modelFiles(path string) ([]string, error) {
	dir := filepath.Dir(path)
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
	desc, err := modelfile.Read(dir)
	if err != nil {
		return files, nil
	}
	reads, err := desc.Files(dir)
	if err != nil {
		return nil, err
	}
	for _, f := range reads {
		if _, found := slices.BinarySearch(files, f); !found {
			return nil, fmt.Errorf("model directory %s: the model reads %s, which is not a file inside the directory (fix: keep every file of the model in its directory; the cache copies only the directory)", dir, f)
		}
	}
	return files, nil
}
