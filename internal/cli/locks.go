package cli

import (
	"context"
	"errors"
)

// runLocks is `ktest locks`. Placeholder until the cache CLI lands.
func runLocks(_ context.Context, _ []string, _ IO) error {
	return errors.New("ktest locks: not implemented yet")
}
