// Package the extension as a .vsix with @vscode/vsce (fetched by npx; needs the npm
// registry). Not part of the test suite.
//
//   cd editors/vscode && npm install && npm run package   # -> rulesc-rules-0.1.0.vsix
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = join(dirname(fileURLToPath(import.meta.url)), "..");
if (!existsSync(join(here, "node_modules", "vscode-languageclient"))) {
  console.error("run `npm install` in editors/vscode first (the client library is bundled)");
  process.exit(1);
}
execFileSync("npx", ["--yes", "@vscode/vsce@3", "package", "--allow-missing-repository"], {
  cwd: here,
  stdio: "inherit",
});
