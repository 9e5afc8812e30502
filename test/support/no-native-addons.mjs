// Preloaded with `node --import` by a test: every native addon fails to load, as on a system that no
// uWebSockets.js build fits (a too old glibc, a Node without a binary), so the refusal can be checked.
import { Module } from 'node:module';

Module._extensions['.node'] = (_module, filename) => {
  throw new Error(`${filename}: cannot open shared object file (native addons disabled by test/support/no-native-addons.mjs)`);
};
