// Jest runs in native ESM mode (node --experimental-vm-modules, see the "test" script) because
// openid-client 6, jose 6 and oidc-provider 9 ship only ES modules. ts-jest transpiles each
// TypeScript file on its own (isolatedModules); `npm run typecheck` does the full type check.
/** @type {import('jest').Config} */
export default {
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  moduleNameMapper: {
    "^(\\.{1,2}/.*)\\.js$": "$1",
  },
  transform: {
    "^.+\\.ts$": ["ts-jest", { useESM: true, tsconfig: "tsconfig.json" }],
  },
  testMatch: ["<rootDir>/test/**/*.test.ts"],
  testTimeout: 30000,
  maxWorkers: 2,
  reporters: ["default", "<rootDir>/test/support/summary-reporter.cjs"],
};
