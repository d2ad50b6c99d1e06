// The game observability backend in Azure: the function app (Flex Consumption, Python 3.11), its storage queues,
// Cosmos DB (database, containers), Application Insights on a Log Analytics workspace, a Key Vault for the secrets,
// Cosmos diagnostic tables for the dashboards, and the poison-queue alert (field case 11).
//
// The containers and queues are not listed here: they come from app-manifest.json, which is generated from the
// app's own code (python -m local.infra_manifest) and compared with it in tests/test_infra.py, so a container or
// queue the code adds cannot be missing in Azure. Every app setting the app reads is either set below or listed in
// that test with the reason it is not.
//
//   az deployment group create -g <group> -f infra/main.bicep \
//     -p appName=<name> pseudonymKey=<secret> integritySigningKey=<secret> alertEmail=<address>

targetScope = 'resourceGroup'

@description('Short name every resource name is derived from: 3 to 12 lowercase letters or digits.')
@minLength(3)
@maxLength(12)
param appName string

@description('Azure region of every resource (one that offers the Flex Consumption plan).')
param location string = resourceGroup().location

@description('Percentage of routine traces kept (TELEMETRY_SAMPLING_PERCENTAGE); errors, guardrail, integrity and security events are always kept.')
@minValue(1)
@maxValue(100)
param samplingPercentage int = 100

@description('Six-field NCRONTAB schedule of the integrity recompute (seconds first).')
param integritySchedule string = '0 */15 * * * *'

@description('Six-field NCRONTAB schedule of the AI cost rollup: minute 5 of every hour.')
param costRollupSchedule string = '0 5 * * * *'

@description('Six-field NCRONTAB schedule of the poison-queue scan: every 5 minutes.')
param poisonScanSchedule string = '0 */5 * * * *'

@description('Keyed-hash key that turns player ids into pseudonyms in telemetry (32 random bytes, base64).')
@secure()
@minLength(16)
param pseudonymKey string

@description('HMAC-SHA256 key that signs the integrity baseline (32 random bytes, base64).')
@secure()
@minLength(16)
param integritySigningKey string

@description('Maximum autoscale throughput (RU/s) shared by the database\'s containers.')
@minValue(1000)
param cosmosMaxThroughput int = 1000

@description('Where alerts are mailed; empty: the action group has no receiver yet.')
param alertEmail string = ''

var manifest = loadJsonContent('app-manifest.json')
var suffix = uniqueString(resourceGroup().id, appName)
var names = {
  workspace: 'log-${appName}-${suffix}'
  insights: 'appi-${appName}-${suffix}'
  storage: take('st${appName}${suffix}', 24)
  cosmos: 'cosmos-${appName}-${suffix}'
  vault: take('kv-${appName}-${suffix}', 24)
  plan: 'plan-${appName}-${suffix}'
  site: 'func-${appName}-${suffix}'
}
var deploymentContainer = 'app-package'
var roles = {
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: names.workspace
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: names.insights
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    // Sampling is the app's (per trace, itemCount kept); ingestion sampling on top would skew sum(itemCount).
    SamplingPercentage: 100
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: names.storage
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Every queue the app consumes or produces, and its poison queue (which the poison scan and the alert watch).
resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queue in manifest.queues: {
  parent: queueService
  name: queue
}]

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: names.cosmos
  location: location
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: { defaultConsistencyLevel: 'Session' }
    locations: [
      { locationName: location, failoverPriority: 0, isZoneRedundant: false }
    ]
    minimalTlsVersion: 'Tls12'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: cosmos
  name: manifest.cosmos.database
  properties: {
    resource: { id: manifest.cosmos.database }
    // Provisioned (autoscale) rather than serverless: normalized RU consumption, the RU alert's signal, exists only here.
    options: { autoscaleSettings: { maxThroughput: cosmosMaxThroughput } }
  }
}

resource containers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [for container in manifest.cosmos.containers: {
  parent: database
  name: container.name
  properties: {
    resource: {
      id: container.name
      partitionKey: { paths: [container.partitionKey], kind: 'Hash' }
    }
  }
}]

// Per-request and per-partition-key tables (CDBDataPlaneRequests, CDBPartitionKeyRUConsumption) for the
// partition-pressure dashboard and the hot-partition alert; resource-specific tables, not AzureDiagnostics.
resource cosmosDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: cosmos
  name: 'to-log-analytics'
  properties: {
    workspaceId: workspace.id
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      { category: 'DataPlaneRequests', enabled: true }
      { category: 'PartitionKeyRUConsumption', enabled: true }
      { category: 'PartitionKeyStatistics', enabled: true }
    ]
    metrics: [
      { category: 'Requests', enabled: true }
    ]
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: names.vault
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
  }
}

resource cosmosKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'cosmos-key'
  properties: { value: cosmos.listKeys().primaryMasterKey }
}

resource pseudonymKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'telemetry-pseudonym-key'
  properties: { value: pseudonymKey }
}

resource signingKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'integrity-signing-key'
  properties: { value: integritySigningKey }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: names.plan
  location: location
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: names.site
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        { name: 'AzureWebJobsStorage', value: 'DefaultEndpointsProtocol=https;AccountName=${storage.name};EndpointSuffix=${environment().suffixes.storage};AccountKey=${storage.listKeys().keys[0].value}' }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'COSMOS_ENDPOINT', value: cosmos.properties.documentEndpoint }
        { name: 'COSMOS_KEY', value: '@Microsoft.KeyVault(SecretUri=${cosmosKeySecret.properties.secretUri})' }
        { name: 'COSMOS_DATABASE', value: manifest.cosmos.database }
        { name: 'TELEMETRY_SAMPLING_PERCENTAGE', value: string(samplingPercentage) }
        { name: 'TELEMETRY_PSEUDONYM_KEY', value: '@Microsoft.KeyVault(SecretUri=${pseudonymKeySecret.properties.secretUri})' }
        { name: 'INTEGRITY_SIGNING_KEY', value: '@Microsoft.KeyVault(SecretUri=${signingKeySecret.properties.secretUri})' }
        { name: 'INTEGRITY_SCHEDULE', value: integritySchedule }
        { name: 'COST_ROLLUP_SCHEDULE', value: costRollupSchedule }
        { name: 'POISON_SCAN_SCHEDULE', value: poisonScanSchedule }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 }
      runtime: { name: 'python', version: '3.11' }
    }
  }
}

resource siteReadsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, site.id, roles.keyVaultSecretsUser)
  properties: {
    principalId: site.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

resource siteReadsPackage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, site.id, roles.storageBlobDataOwner)
  properties: {
    principalId: site.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

resource operators 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${appName}-operators'
  location: 'global'
  properties: {
    groupShortName: take('${appName}ops', 12)
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      { name: 'operator', emailAddress: alertEmail, useCommonAlertSchema: true }
    ]
  }
}

// Field case 11: any message in any poison queue. The scan runs every 5 minutes, so a 10-minute window always
// holds one; the alert resolves itself once a window has no non-empty poison queue.
resource poisonAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: 'alert-${appName}-poison-queue'
  location: location
  properties: {
    displayName: 'Poison queue holds messages (${appName})'
    description: 'A queue message could not be processed and sits in <queue>-poison. Runbook: docs/runbooks/poison-queue.md.'
    severity: 2
    enabled: true
    scopes: [insights.id]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT10M'
    criteria: {
      allOf: [
        {
          query: loadTextContent('alerts/poison-queue.kql')
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'length'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            { name: 'queue', operator: 'Include', values: ['*'] }
          ]
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    autoMitigate: true
    actions: { actionGroups: [operators.id] }
  }
}

output functionAppName string = site.name
output functionAppHost string = site.properties.defaultHostName
output applicationInsightsName string = insights.name
output cosmosEndpoint string = cosmos.properties.documentEndpoint
