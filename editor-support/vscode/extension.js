// The Trix extension: starts `trixc lsp` (a language server over stdio) for
// .trix files. Highlighting comes from syntaxes/trix.tmLanguage.json; all
// language features (diagnostics, go to definition, hover, completion,
// formatting, outline) come from the server.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("trix");
  const command = config.get("server.path") || "trixc";
  const serverOptions = {
    run: { command, args: ["lsp"], transport: TransportKind.stdio },
    debug: { command, args: ["lsp"], transport: TransportKind.stdio },
  };
  const clientOptions = {
    documentSelector: [{ scheme: "file", language: "trix" }, { scheme: "untitled", language: "trix" }],
    outputChannelName: "Trix language server",
  };
  client = new LanguageClient("trix", "Trix language server", serverOptions, clientOptions);
  client.start().catch((err) => {
    vscode.window.showErrorMessage(
      `Trix: could not start \`${command} lsp\` (${err.message}). Install trixc or set "trix.server.path".`);
  });
  context.subscriptions.push({ dispose: () => client && client.stop() });
  context.subscriptions.push(vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration("trix.server.path")) {
      vscode.window.showInformationMessage("Trix: reload the window to use the new trixc path.");
    }
  }));
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
