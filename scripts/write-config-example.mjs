#!/usr/bin/env node
// Regenerates docs/repoman-server.conf.example from the option table in src/config.ts
// (run `npm run build` first). A test fails while the committed file differs.
import { writeFileSync } from "node:fs";
import { exampleConfigFile } from "../dist/src/config.js";
writeFileSync(new URL("../docs/repoman-server.conf.example", import.meta.url), exampleConfigFile());
