package intinfer

import (
	"testing"

	"github.com/a2qtoolkit/a2q/models"
)

// The engine names tasks with its own constants so that its core does not
// import the training stack; they must stay the trained models' names.
func TestTaskNames(t *testing.T) {
	for _, tt := range []struct{ engine, model string }{
		{TaskClassify, string(models.Classify)},
		{TaskSuperResolve, string(models.SuperResolve)},
	} {
		if tt.engine != tt.model {
			t.Errorf("engine task %q, models task %q", tt.engine, tt.model)
		}
	}
}
