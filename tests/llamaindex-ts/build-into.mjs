// build.mjs run into a persist dir that already exists, as a TS app opening
// MOUNT/persist-ts does. Usage: node build-into.mjs DIR [build.mjs options]
// Two differences from build.mjs, both because DIR is not TS's own empty dir:
//  - DIR is kept, not removed first (persist-ts/'s files are views of the
//    store and cannot be removed);
//  - the index struct already in DIR's index_store.json (ragfs always lists
//    its default struct, even when empty) is used: VectorStoreIndex.init
//    throws "Cannot initialize index with both indexStruct and indexStore"
//    when build.mjs also passes its own IndexDict("ts-index").
import fs from "node:fs";
import { VectorStoreIndex } from "llamaindex";
const rm = fs.rmSync;
fs.rmSync = (p, o) => (p === process.argv[2] ? undefined : rm(p, o));
const init = VectorStoreIndex.init;
VectorStoreIndex.init = async function (o) {
  if (o?.indexStruct && (await o.storageContext.indexStore.getIndexStructs()).length) {
    const { indexStruct, ...rest } = o; // eslint-disable-line no-unused-vars
    return init.call(this, rest);
  }
  return init.call(this, o);
};
await import("./build.mjs");
