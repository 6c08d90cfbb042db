// The user and group subcommands end to end: the original's output lines and formats, prompts
// answered, declined and unanswered, and refusals.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { expectExit, startWorld, type World } from "./world.js";

let w: World;
before(async () => {
  w = await startWorld();
});
after(() => w.close());

test("create-user, list-users (table, -s, -g, one user, --json), modify-user", async () => {
  expectExit(await w.run("admin", ["cu", "-e", "dave@example.org", "--f", "Dave Example", "dave", "/C=CA/O=Grid/OU=test/CN=Dave Example"]), 0, "[OK]     Created new user dave.\n", "");
  expectExit(await w.run("admin", ["create-user", "bad name", "/CN=x"]), 1, "", /^Error: Invalid argument\.\n\t'bad name' is not a valid user name/);
  expectExit(await w.run("admin", ["cu", "-e", "not-an-email", "erin", "/CN=x"]), 1, "", /'not-an-email' is not a valid email address/);
  expectExit(await w.run("admin", ["cu", "dave2", "/C=CA/O=Grid/OU=test/CN=Dave Example"]), 1, "", /\[FAILED\] create-user\n\tConflict in request\n\t/);

  const table = await w.run("alice", ["list-users"]);
  expectExit(table, 0);
  const lines = table.stdout.split("\n");
  assert.match(lines[0]!, /^Username Full Name +Client DN$/);
  assert.match(lines[1]!, /^-+$/);
  assert.deepEqual(lines.slice(2, -1).map((l) => l.split(" ")[0]), ["admin", "alice", "bob", "dave"]);
  assert.match(table.stdout, /\ndave +Dave Example \/C=CA\/O=Grid\/OU=test\/CN=Dave Example\n/);
  expectExit(await w.run("alice", ["lu", "-s"]), 0, "admin\nalice\nbob\ndave\n");
  expectExit(await w.run("alice", ["lu", "-s", "-g", "admins"]), 0, "admin\n");

  const one = await w.run("alice", ["lu", "alice"]);
  expectExit(one, 0);
  const keys = one.stdout.trimEnd().split("\n").map((l) => l.split(" : ")[0]!.trim());
  assert.deepEqual(keys, ["client_dn", "email", "full_name", "groups", "images", "permissions", "suspended", "user_name"]);
  assert.ok(one.stdout.endsWith("\n\n"));
  assert.match(one.stdout, /^  client_dn : \/C=CA\/O=Grid\/OU=test\/CN=Alice Example\n/);
  assert.match(one.stdout, /\n  suspended : False\n  user_name : alice\n\n$/);
  const json = await w.run("alice", ["lu", "--json"]);
  expectExit(json, 0);
  assert.deepEqual(JSON.parse(json.stdout).map((u: { user_name: string }) => u.user_name), ["admin", "alice", "bob", "dave"]);

  expectExit(await w.run("admin", ["mu", "-f", "David Example", "-e", "david@example.org", "dave"]), 0, "[OK]     Modifying user.\n");
  assert.match((await w.run("admin", ["lu", "dave"])).stdout, /full_name : David Example\n/);
  expectExit(await w.run("alice", ["mu", "-f", "Mallory", "dave"]), 1, "", /\[FAILED\] modify-user\n\tYou lack the rights to access that object\n/);
  expectExit(await w.run("admin", ["mu", "-n", "davey", "dave"]), 1, "", /Error: Invalid argument\.\n\tRenaming users is not supported\./);
});

test("remove-user: the warning and prompt; declined, unanswered, confirmed after 'y', and -f", async () => {
  expectExit(await w.run("admin", ["cu", "frank", "/C=CA/O=Grid/OU=test/CN=Frank Example"]), 0);
  const declined = await w.run("admin", ["ru", "frank"], { stdin: "no\n" });
  expectExit(declined, 0, /^WARNING: .*frank.*This cannot be undone\.\nConfirm deletion \[yes\]\/\[n\]o: \nAborting user deletion\n$/);
  const unanswered = await w.run("admin", ["ru", "frank"]);
  expectExit(unanswered, 1, /Confirm deletion/, /\[FAILED\] remove-user\n\tno answer to the confirmation question, so nothing was deleted\n\tAnswer it on a terminal, or pass -f\/--force\./);
  expectExit(await w.run("admin", ["lu", "-s"]), 0, /frank/);
  const confirmed = await w.run("admin", ["ru", "frank"], { stdin: "y\nYES\n" });
  expectExit(confirmed, 0, /Confirm deletion \[yes\]\/\[n\]o: \nType the full word 'yes' to confirm: \n\[OK\]     Removed user frank\.\n$/);
  expectExit(await w.run("admin", ["cu", "frank", "/C=CA/O=Grid/OU=test/CN=Frank Example"]), 0);
  expectExit(await w.run("admin", ["ru", "-f", "frank"]), 0, "[OK]     Removed user frank.\n");
  expectExit(await w.run("admin", ["ru", "-f", "frank"]), 1, "", /\[FAILED\] remove-user\n\tRequested resource could not be found\n/);
});

test("groups: create with permissions and users, list, describe, modify, memberships, permissions, remove", async () => {
  const created = await w.run("admin", ["cg", "-p", "image_modify_group,group_modify", "-u", "alice,bob", "atlas"]);
  expectExit(created, 0, "[OK]     Creating new group: 'atlas'\n[OK]     Adding permission: 'image_modify_group' to group: 'atlas'\n[OK]     Adding permission: 'group_modify' to group: 'atlas'\n[OK]     Adding user: `alice` to group: 'atlas'\t\t\n[OK]     Adding user: `bob` to group: 'atlas'\t\t\n");
  expectExit(await w.run("admin", ["cg", "-p", "fly", "cms"]), 1, "", /Error: Invalid argument\.\n\tunknown permission: fly\n\tPermissions are: user_create/);
  expectExit(await w.run("alice", ["cg", "cms"]), 1, "", /\[FAILED\] create-group\n\tYou lack the rights to access that object/);

  expectExit(await w.run("alice", ["lg"]), 0, `Group Name Members\n${"-".repeat(34)}\natlas      alice, bob\nusers      admin, alice, bob, dave\n`);
  expectExit(await w.run("alice", ["lg", "-s", "-a"]), 0, "admins\natlas\nusers\n");
  expectExit(await w.run("alice", ["lg", "-s", "-u", "admin"]), 0, "admins\nusers\n");
  expectExit(await w.run("alice", ["lg", "atlas"]), 0, `       name : atlas\npermissions : group_modify, image_modify_group\n      users : https://${w.repo}/api/users/alice, https://${w.repo}/api/users/bob\n\n`);
  const json = await w.run("alice", ["lg", "--json", "atlas"]);
  assert.equal(JSON.parse(json.stdout).name, "atlas");

  expectExit(await w.run("admin", ["rug", "atlas", "alice", "bob"]), 0, "[OK]     Removing user: `alice` from  group: 'atlas'\t\t\n[OK]     Removing user: `bob` from  group: 'atlas'\t\t\n");
  expectExit(await w.run("admin", ["aug", "atlas", "alice", "bob"]), 0, "[OK]     Adding user: `alice` to group: 'atlas'\t\t\n[OK]     Adding user: `bob` to group: 'atlas'\t\t\n");
  expectExit(await w.run("admin", ["aug", "atlas", "nobody"]), 1, "", /\[FAILED\] add-users-to-group\n\tRequested resource could not be found/);
  expectExit(await w.run("admin", ["apg", "atlas", "image_delete_group,user_create"]), 0, "[OK]     Adding permission: 'image_delete_group' to group: 'atlas'\n[OK]     Adding permission: 'user_create' to group: 'atlas'\n");
  expectExit(await w.run("admin", ["rpg", "atlas", "user_create"]), 0, "[OK]     Removing permission: 'user_create' from group: 'atlas'\n");

  // modify-group works (the original's always failed): exact lists, then a rename.
  const modified = await w.run("admin", ["mg", "-p", "image_modify_group", "-u", "alice,admin", "-n", "atlas2", "atlas"]);
  expectExit(modified, 0, /Removing permission: 'group_modify'.*\n.*Removing permission: 'image_delete_group'.*\n.*Adding user: `admin`.*\n.*Removing user: `bob`.*\n\[OK\]     Renamed group: 'atlas' to 'atlas2'\n\[OK\]     Modifying group\.\n$/);
  const after = JSON.parse((await w.run("alice", ["lg", "--json", "atlas2"])).stdout);
  assert.deepEqual(after.permissions, ["image_modify_group"]);
  assert.deepEqual(after.users.map((u: string) => u.split("/").pop()).sort(), ["admin", "alice"]);

  expectExit(await w.run("admin", ["rg", "atlas2"], { stdin: "n\n" }), 0, "Confirm deletion [yes]/[n]o: \nAborting group deletion\n");
  expectExit(await w.run("admin", ["rg", "atlas2"], { stdin: "yes\n" }), 0, "Confirm deletion [yes]/[n]o: \n[OK]     Removed group atlas2.\n");
  expectExit(await w.run("admin", ["rg", "-f", "users"]), 1, "", /\[FAILED\] remove-group\n\tYou lack the rights to access that object\n\t.*protected/);
});
