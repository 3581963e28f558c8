// Package cognito keeps tenantstream's users in an Amazon Cognito user pool: onboarding, logins, refreshes and token verification.
package cognito
