// Package domain holds tenantstream's aggregates, value objects and billing maths, free of I/O.
package domain
