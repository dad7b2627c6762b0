package train

import (
	"fmt"

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
