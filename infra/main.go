// Command infra synthesizes tenantstream's AWS stack (make synth) without the CDK CLI.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/tenantstream/tenantstream/infra/stack"
)

// StackName is the CloudFormation stack's name.
const StackName = "TenantStream"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run() error {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	cfg, err := stack.ConfigFromContext(app.Node())
	if err != nil {
		return err
	}
	var env *awscdk.Environment
	// Set by the CDK CLI (make deploy); a plain synth stays environment-agnostic.
	if acct, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION"); acct != "" && region != "" {
		env = &awscdk.Environment{Account: jsii.String(acct), Region: jsii.String(region)}
	}
	if _, err := stack.New(app, StackName, stack.Props{Config: cfg, StackProps: &awscdk.StackProps{
		Env: env, Description: jsii.String("tenantstream: event-sourced multi-tenant SaaS backend"),
	}}); err != nil {
		return err
	}
	stack.AddChecks(app)
	assembly := app.Synth(nil)
	// cdk-nag reports through annotations; an error must fail the synth here,
	// because no CDK CLI is there to do it.
	for _, st := range *assembly.Stacks() {
		fmt.Println(filepath.Join(*assembly.Directory(), *st.TemplateFile()))
	}
	return stack.SynthErrors(*assembly.Directory())
}
