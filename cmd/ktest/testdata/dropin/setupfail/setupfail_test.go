// Package setupfail imports a package that does not exist.
package setupfail

import (
	"testing"

	_ "example.com/dropin/doesnotexist"
)

func TestNeverRuns(t *testing.T) {}
