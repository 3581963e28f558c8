// Package domain holds the error codes every layer shares; its subpackages hold the aggregates, value objects and billing maths, free of I/O.
package domain
