// host-local as an executable: synchronous node fs for the store, flock(2) through the addon.
import { loadAddon } from "../../../kernel/addon.js";
import { createLocker } from "../../../kernel/lock.js";
import { runPlugin } from "../../../sdk/main.js";
import { HOST_LOCAL_ABOUT, createHostLocal } from "./host-local.js";
import { nodeHostLocalDeps } from "./node-deps.js";
import { syncFs } from "./sync-fs.js";

runPlugin(createHostLocal(nodeHostLocalDeps({ storeFs: syncFs, lock: createLocker(loadAddon) })), HOST_LOCAL_ABOUT);
