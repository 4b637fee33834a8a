package cli

import (
	"context"
	"errors"
)

// runStats is `ktest stats`. Placeholder until the stats work lands.
func runStats(_ context.Context, _ []string, _ IO) error {
	return errors.New("ktest stats: not implemented yet")
}
