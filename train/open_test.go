package train

import (
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/models"
)

// TestOpenDataForWallpapers checks that a super-resolution model (an
// imported one takes this path) opens the wallpapers corpus as
// photographs: the crops of its training and test photographs where the
// packages are installed, else the corpus's own error naming them, never
// the classifiers' refusal of a photograph set.
func TestOpenDataForWallpapers(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes the corpus's photographs")
	}
	tr, te, err := OpenDataFor(models.SuperResolve, data.WallpapersName, 2, 1)
	if err != nil {
		if strings.Contains(err.Error(), "without labels") {
			t.Fatalf("super-resolution got the classifiers' error: %v", err)
		}
		for _, p := range data.WallpaperPackages() {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error does not name package %s: %v", p, err)
			}
		}
		t.Skipf("wallpaper packages not installed: %v", err)
	}
	if tr.N == 0 || te.N == 0 || tr.C != 1 {
		t.Fatalf("wallpapers: %d training and %d test crops of %d channels", tr.N, te.N, tr.C)
	}
}
