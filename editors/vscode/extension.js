// The Rules extension: a thin client that starts `rulesc lsp` over stdio. Everything the
// editor shows (diagnostics, hover, completion, rename, formatting, quick fixes) is the
// server's; see docs/designer-guide.md.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function serverOptions() {
  const config = vscode.workspace.getConfiguration("rulesc");
  const command = config.get("path") || "rulesc";
  const args = ["lsp", ...(config.get("args") || [])];
  return { command, args, transport: TransportKind.stdio };
}

async function start() {
  client = new LanguageClient(
    "rulesc",
    "rulesc language server",
    serverOptions(),
    {
      documentSelector: [
        { scheme: "file", language: "rules" },
        { scheme: "file", pattern: "**/*.csv" }, // a table's rows: diagnostics and rename
      ],
      synchronize: {
        fileEvents: vscode.workspace.createFileSystemWatcher("**/*.{rules,csv}"),
      },
    },
  );
  await client.start();
}

async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("rulesc.restartServer", async () => {
      if (client) await client.stop();
      await start();
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("rulesc") && client) {
        await client.stop();
        await start();
      }
    }),
  );
  try {
    await start();
  } catch (err) {
    vscode.window.showErrorMessage(
      `Could not start \`${serverOptions().command} lsp\`: ${err.message}. ` +
        "Install rulesc (pip install rulesc) or set `rulesc.path` in the settings.",
    );
  }
}

async function deactivate() {
  if (client) await client.stop();
}

module.exports = { activate, deactivate };
