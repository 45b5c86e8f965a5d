// Preloaded (`node --require`) by sqlite-unbuilt.test.ts: better-sqlite3 as installed when its
// install script never ran. Its `bindings` lookup searches a package root with no build in it,
// so the real `bindings` package fails the way it does then ("Could not locate the bindings file").
const Module = require('node:module');
const { join } = require('node:path');

const emptyRoot = join(__dirname, 'no-native-build');
const load = Module._load;
Module._load = function (request, parent, isMain) {
  const loaded = load.call(this, request, parent, isMain);
  if (request !== 'bindings') return loaded;
  return (name) => loaded({ bindings: name, module_root: emptyRoot });
};
