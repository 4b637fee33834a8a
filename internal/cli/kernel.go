package cli

import (
	"context"
	"errors"
)

// runKernel is `ktest kernel`. Placeholder until the cache CLI lands.
func runKernel(_ context.Context, _ []string, _ IO) error {
	return errors.New("ktest kernel: not implemented yet")
}
