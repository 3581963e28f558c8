// Package stack defines tenantstream's AWS stack as a CDK construct tree, derived from the same projection registry and route list the code uses.
package stack
