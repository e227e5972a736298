import { existsSync } from "node:fs";
import { Command } from "commander";
import { loadConfigFile, type ServiceConfig } from "../config/load.js";
import { ConfigError } from "../errors.js";
import { createApp } from "../http/create-sign-in.js";
import { createLogger } from "../logger.js";
import { runCheck } from "./check.js";
import { printMetadata } from "./metadata.js";
import { serve } from "./serve.js";

const DEFAULT_CONFIG_FILES = [
  "federated-signin.yaml",
  "federated-signin.yml",
  "federated-signin.json",
];

/** Finds the config file: --config, then FEDERATED_SIGNIN_CONFIG, then a default name. */
export function resolveConfigPath(option: string | undefined): string {
  const explicit = option ?? process.env.FEDERATED_SIGNIN_CONFIG;
  if (explicit) return explicit;
  const found = DEFAULT_CONFIG_FILES.find((name) => existsSync(name));
  if (found) return found;
  throw new ConfigError([
    `no config file: pass --config FILE, set FEDERATED_SIGNIN_CONFIG, or create ${DEFAULT_CONFIG_FILES[0]}; ` +
      `to try the service without any setup run "federated-signin demo"`,
  ]);
}

function loadConfig(option: string | undefined): ServiceConfig {
  return loadConfigFile(resolveConfigPath(option));
}

/** Runs the command line; `argv` as in `process.argv`. */
export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name("federated-signin")
    .description(
      "Sign-in microservice for Microsoft Entra ID (SAML 2.0, OpenID Connect) and SMART on FHIR",
    )
    .showHelpAfterError()
    .addHelpText(
      "after",
      `
Without --config, the commands that take one read the file named by FEDERATED_SIGNIN_CONFIG,
or ./federated-signin.yaml. Config values written env:NAME are read from that variable.

Exit codes: 0 success; 1 "check" found problems or the service failed; 2 invalid configuration.`,
    );

  program
    .command("start")
    .description("run the service with a config file")
    .option("-c, --config <file>", "YAML or JSON config file (default: federated-signin.yaml)")
    .action(async (options: { config?: string }) => {
      const config = loadConfig(options.config);
      const logger = createLogger(config.logLevel);
      const { app, signIn } = await createApp(config, { logger });
      await serve(app, signIn, config.listen, logger);
    });

  program
    .command("demo")
    .description(
      "run the service on localhost with built-in development IdPs (SAML, OIDC, SMART); never for production",
    )
    .option(
      "-p, --port <port>",
      "port of the service on localhost; the demo IdPs use the next ports",
      "3000",
    )
    .action(async (options: { port: string }) => {
      // Loaded only here: oidc-provider, which the demo's OpenID provider uses, prints a
      // runtime warning on Node.js 20 as soon as it is imported.
      const { runDemo } = await import("./demo.js");
      await runDemo({ port: Number(options.port) });
    });

  program
    .command("check")
    .description(
      "check the federation setup of every connection and print what is wrong and how to fix it",
    )
    .option("-c, --config <file>", "YAML or JSON config file (default: federated-signin.yaml)")
    .option("--json", "print the result as JSON")
    .action(async (options: { config?: string; json?: boolean }) => {
      const config = loadConfig(options.config);
      process.exitCode = await runCheck(config, { json: options.json === true });
    });

  program
    .command("metadata")
    .description("print the SP metadata XML of a SAML connection")
    .argument("<id>", "connection id")
    .option("-c, --config <file>", "YAML or JSON config file (default: federated-signin.yaml)")
    .action(async (id: string, options: { config?: string }) => {
      const config = loadConfig(options.config);
      process.stdout.write(await printMetadata(config, id));
    });

  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
}
