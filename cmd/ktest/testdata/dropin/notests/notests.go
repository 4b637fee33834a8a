// Package notests has no test files.
package notests

// F exists so that coverage has a statement to count.
func F() int { return 1 }
