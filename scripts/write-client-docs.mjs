#!/usr/bin/env node
// Regenerates docs/repoman.1 (the man page) and docs/repoman.bash-completion from the client's
// command table (run `npm run build` first). A test fails while the committed files differ.
import { writeFileSync } from "node:fs";
import { manPage } from "../dist/src/cli/repoman/manpage.js";
import { bashCompletion } from "../dist/src/cli/repoman/completion.js";
writeFileSync(new URL("../docs/repoman.1", import.meta.url), manPage());
writeFileSync(new URL("../docs/repoman.bash-completion", import.meta.url), bashCompletion());
