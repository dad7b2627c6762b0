package train

import (
	"fmt"
	"os"

	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/models"
)

// SRCropsPerImage is the number of random training crops OpenData cuts
// from each photograph for super-resolution models.
const SRCropsPerImage = 256

// OpenData loads the data set a model trains on, from a --data spec:
// images with labels (data.Open) for classifiers; luminance pairs
// (data.OpenSR, ×scale, SRCropsPerImage crops per photograph seeded by
// seed) for super-resolution models.
func OpenData(model, spec string, scale int, seed uint64) (trainSet, testSet *data.Set, err error) {
	task, ok := models.TaskOf(model)
	if !ok {
		return nil, nil, fmt.Errorf("unknown model %q (known: %v)", model, models.Names())
	}
	if task == models.SuperResolve {
		return data.OpenSR(spec, data.SROptions{Scale: scale, Luma: true, Seed: int64(seed), CropsPerImage: SRCropsPerImage})
	}
	return data.Open(spec)
}

// OpenDataFor loads the data set of a model built from a graph (an
// imported network), which tells its task and input shape: images with
// labels for a classifier; for an image-to-image network whose output is
// scale times its input, the images of an image data set as targets with
// their scale×scale block averages as inputs (or, when spec is not an
// image data set, super-resolution pairs from photographs).
func OpenDataFor(task models.Task, spec string, scale int, seed uint64) (trainSet, testSet *data.Set, err error) {
	if task != models.SuperResolve {
		return data.Open(spec)
	}
	trainSet, testSet, err = data.Open(spec)
	if err != nil {
		if spec == "" || spec == "default" || !isDir(spec) && spec != data.WallpapersName {
			return nil, nil, err
		}
		return data.OpenSR(spec, data.SROptions{Scale: scale, Luma: true, Seed: int64(seed), CropsPerImage: SRCropsPerImage})
	}
	if trainSet, err = data.Downscaled(trainSet, scale); err != nil {
		return nil, nil, err
	}
	if testSet, err = data.Downscaled(testSet, scale); err != nil {
		return nil, nil, err
	}
	return trainSet, testSet, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
