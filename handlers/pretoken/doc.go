// Package pretoken is the Cognito pre token generation trigger (event version V2_0) that puts the user's tenant into the access token.
package pretoken
